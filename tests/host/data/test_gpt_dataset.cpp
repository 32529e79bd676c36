// GptDataset (spec/data.md §3-4): every window has seq_len + 1 tokens that are consecutive in
// one stream of whole documents; the windows tile that stream with no gap (each starts where
// another ends); more samples than one epoch holds repeat the documents; the loss mask comes
// from the sidecar, aligned with the tokens; the same seed gives the same samples; bad paths
// name what was expected.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "data/gpt_dataset.h"
#include "host/data/dataset_fixture.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

using host::data::GptDataset;

struct Tok {
  int doc, pos;
};
Tok split(std::int32_t t) {
  return {t / 1000, t % 1000};
}

// Consecutive stream tokens: the next position of a document, or position 0 of another one
// after the last position of this one.
bool follows(std::int32_t a, std::int32_t b, const std::vector<int>& lengths) {
  const Tok x = split(a), y = split(b);
  if (y.doc == x.doc && y.pos == x.pos + 1) return true;
  return x.pos == lengths[std::size_t(x.doc)] - 1 && y.pos == 0;
}

class GptDatasetTest : public DatasetDir {};

TEST_F(GptDatasetTest, WindowsTileOneStreamOfWholeDocuments) {
  const std::vector<int> lengths = {5, 1, 9, 3, 12, 7, 2, 8, 4, 6};  // 57 tokens
  const std::string prefix = write("text", lengths, false);
  const std::int64_t T = 5, n = 11;  // 11 * 5 + 1 = 56 tokens: one epoch
  GptDataset ds(prefix, T, n, 42);
  ASSERT_EQ(ds.samples(), n);
  EXPECT_EQ(ds.epochs(), 1);
  EXPECT_FALSE(ds.has_loss_mask());
  std::set<std::int32_t> firsts, lasts, seen;
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<std::int32_t> w(std::size_t(T + 1), -1);
    std::vector<std::uint8_t> m(std::size_t(T + 1), 7);
    ds.window(i, w.data(), m.data());
    for (std::int64_t t = 0; t < T; ++t) {
      EXPECT_TRUE(follows(w[std::size_t(t)], w[std::size_t(t + 1)], lengths))
          << "sample " << i << " token " << t << ": " << w[std::size_t(t)] << " -> "
          << w[std::size_t(t + 1)];
      EXPECT_TRUE(seen.insert(w[std::size_t(t)]).second) << "token read twice in one epoch";
    }
    for (std::uint8_t v : m) EXPECT_EQ(v, 1) << "plain text: every label counts";
    firsts.insert(w.front());
    lasts.insert(w.back());
  }
  // Each window ends where another begins, except the last one of the stream.
  std::size_t ends_at_a_start = 0;
  for (std::int32_t l : lasts) ends_at_a_start += firsts.count(l);
  EXPECT_EQ(ends_at_a_start, std::size_t(n - 1));
  EXPECT_EQ(seen.size(), std::size_t(n * T));
}

TEST_F(GptDatasetTest, MoreSamplesThanAnEpochRepeatTheDocuments) {
  const std::vector<int> lengths = {4, 6, 3};  // 13 tokens
  const std::string prefix = write("small", lengths, false);
  GptDataset ds(prefix, 4, 10, 1);  // 41 tokens needed: 4 epochs
  EXPECT_EQ(ds.epochs(), 4);
  std::map<std::int32_t, int> count;
  for (std::int64_t i = 0; i < ds.samples(); ++i) {
    std::vector<std::int32_t> w(5);
    ds.window(i, w.data(), nullptr);
    for (std::size_t t = 0; t + 1 < w.size(); ++t) {
      EXPECT_TRUE(follows(w[t], w[t + 1], lengths));
      ++count[w[t]];
    }
  }
  for (const auto& [tok, c] : count) EXPECT_LE(c, 4) << tok;
  EXPECT_EQ(count.size(), 13u) << "40 tokens over 4 epochs of 13 reach every token";
}

TEST_F(GptDatasetTest, SameSeedSameSamplesOtherSeedOtherOrder) {
  const std::string prefix = write("text", {30, 20, 25, 17, 40, 11}, false);
  GptDataset a(prefix, 8, 16, 7), b(prefix, 8, 16, 7), c(prefix, 8, 16, 8);
  bool differs = false;
  for (std::int64_t i = 0; i < 16; ++i) {
    std::vector<std::int32_t> wa(9), wb(9), wc(9);
    a.window(i, wa.data(), nullptr);
    b.window(i, wb.data(), nullptr);
    c.window(i, wc.data(), nullptr);
    EXPECT_EQ(wa, wb);
    differs |= wa != wc;
  }
  EXPECT_TRUE(differs);
}

TEST_F(GptDatasetTest, MoreSamplesExtendTheSequenceWithoutReorderingIt) {
  const std::string prefix = write("text", {30, 20, 25, 17, 40, 11}, false);
  GptDataset few(prefix, 8, 5, 7), many(prefix, 8, 100, 7);
  EXPECT_GE(few.samples(), 5);
  EXPECT_GT(many.epochs(), few.epochs());
  for (std::int64_t i = 0; i < few.samples(); ++i) {
    std::vector<std::int32_t> a(9), b(9);
    few.window(i, a.data(), nullptr);
    many.window(i, b.data(), nullptr);
    EXPECT_EQ(a, b) << i;
  }
}

TEST_F(GptDatasetTest, HarmonySidecarMaskFollowsItsTokens) {
  const std::string prefix = write("chat", {9, 14, 6, 11}, true);
  GptDataset ds(prefix, 6, 6, 3);
  ASSERT_TRUE(ds.has_loss_mask());
  for (std::int64_t i = 0; i < ds.samples(); ++i) {
    std::vector<std::int32_t> w(7);
    std::vector<std::uint8_t> m(7);
    ds.window(i, w.data(), m.data());
    for (std::size_t t = 0; t < w.size(); ++t) EXPECT_EQ(m[t], w[t] % 2) << i << " " << t;
  }
}

TEST_F(GptDatasetTest, MissingOrMismatchedFilesSayWhatWasExpected) {
  try {
    GptDataset ds(path("nothing"), 4, 1, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path("nothing") + ".bin/.idx (text) or " +
                                         path("nothing") + "_tokens.bin/.idx"),
              std::string::npos)
        << e.what();
  }
  // A token dataset whose mask sidecar is missing.
  IndexedDatasetWriter t(path("half_tokens"), IndexedDType::i32);
  const std::vector<std::int32_t> doc = {1, 2, 3};
  t.add_document(std::span<const std::int32_t>(doc));
  t.commit();
  EXPECT_THROW(
      {
        try {
          GptDataset ds(path("half"), 2, 1, 1);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("_lossmask.bin/.idx"), std::string::npos);
          throw;
        }
      },
      Error);
  // A sidecar of other lengths.
  IndexedDatasetWriter m(path("half_lossmask"), IndexedDType::u8);
  const std::vector<std::uint8_t> mask = {1, 0};
  m.add_document(std::span<const std::uint8_t>(mask));
  m.commit();
  try {
    GptDataset ds(path("half"), 2, 1, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sequence lengths differ"), std::string::npos) << e.what();
  }
}

TEST(SplitMix64, IsTheReferenceSequence) {
  // SplitMix64 from seed 0 (Vigna's reference output).
  host::data::SplitMix64 g(0);
  EXPECT_EQ(g.next(), 0xe220a8397b1dcdafull);
  EXPECT_EQ(g.next(), 0x6e789e6aa1b965f4ull);
  host::data::SplitMix64 h(99);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(h.below(7), 7u);
}

}  // namespace
}  // namespace vpmoe::testing
