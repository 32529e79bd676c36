// The fast BPE paths (whole-token lookup, the per-thread piece cache, the heap for long
// pieces) against tiktoken's merge rule written plainly.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "asset.h"
#include "bpe.h"
#include "fixture.h"
#include "piece_cache.h"
#include "vpmoe/error.h"

namespace vpmoe::o200k::test {
namespace {

const RankTable& ranks() {
  static const RankTable table = [] {
    Asset a = load_asset(source_path("data/tokenizer/o200k_base.tiktoken"), kAssetSha256);
    return RankTable(std::move(a.arena), std::move(a.offsets));
  }();
  return table;
}

// Reference: repeatedly merge the adjacent pair of lowest rank, leftmost among equals.
std::vector<std::int32_t> reference_bpe(const std::string& piece) {
  std::vector<std::string> parts;
  for (char c : piece) parts.emplace_back(1, c);
  auto rank = [](const std::string& s) {
    return ranks().find(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  for (;;) {
    std::uint32_t best = kNoRank;
    std::size_t at = 0;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      const std::uint32_t r = rank(parts[i] + parts[i + 1]);
      if (r < best) best = r, at = i;
    }
    if (best == kNoRank) break;
    parts[at] += parts[at + 1];
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  std::vector<std::int32_t> ids;
  for (const auto& p : parts) ids.push_back(static_cast<std::int32_t>(rank(p)));
  return ids;
}

std::vector<std::int32_t> fast_bpe(const std::string& piece) {
  std::vector<std::int32_t> out;
  bpe_encode(ranks(), thread_piece_cache(ranks()),
             reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size(), out);
  return out;
}

TEST(Bpe, ShortAndLongPiecesMatchThePlainMergeRule) {
  std::mt19937 rng(7);
  const std::vector<std::string> alphabets[] = {{"中", "文", "字", "的", "是", "一"},
                                                {"a", "b", "ab", "ba", "aa"},
                                                {"=", "-", "*", " "},
                                                {"\xF0\x9F\x98\x80", "\xE2\x80\x8B", "\xC3\xA9"},
                                                {"th", "e", "in", "g", "ion", "s"}};
  for (const auto& alpha : alphabets) {
    std::uniform_int_distribution<std::size_t> pick(0, alpha.size() - 1);
    for (std::size_t len : {2, 5, 17, 40, 64, 65, 97, 150, 400}) {
      for (int rep = 0; rep < 3; ++rep) {
        std::string piece;
        while (piece.size() < len) piece += alpha[pick(rng)];
        ASSERT_EQ(fast_bpe(piece), reference_bpe(piece)) << piece;
        ASSERT_EQ(fast_bpe(piece), reference_bpe(piece)) << "cached: " << piece;
      }
    }
  }
}

TEST(Bpe, ThreadsEncodeIndependently) {
  const std::string text = "The quick brown fox jumps over the lazy dog. 東京は日本の首都です。";
  const auto want = tokenizer().encode_ordinary(text);
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      bool same = true;
      for (int i = 0; i < 200; ++i) same = same && tokenizer().encode_ordinary(text) == want;
      ok[t] = same;
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_TRUE(ok[t]) << t;
}

}  // namespace
}  // namespace vpmoe::o200k::test

namespace vpmoe::o200k::test {
namespace {

TEST(Batch, ManyThreadsGiveTheSameIdsInOrder) {
  std::vector<std::string> docs;
  for (int i = 0; i < 300; ++i)
    docs.push_back("document " + std::to_string(i) + ": Straße, 東京, naïve café's " +
                   std::string(static_cast<std::size_t>(i % 7), '\n'));
  std::vector<std::string_view> views(docs.begin(), docs.end());
  const auto one = tokenizer().encode_ordinary_batch(views, 1);
  const auto many = tokenizer().encode_ordinary_batch(views, 8);
  ASSERT_EQ(one.size(), docs.size());
  EXPECT_EQ(one, many);
  for (std::size_t i = 0; i < docs.size(); ++i)
    EXPECT_EQ(one[i], tokenizer().encode_ordinary(docs[i])) << i;
}

TEST(Batch, AnErrorNamesTheFirstBadText) {
  std::vector<std::string_view> views{"fine", "bad \xFF", "also \xFE bad"};
  try {
    tokenizer().encode_ordinary_batch(views, 3);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("text 1: "), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vpmoe::o200k::test
