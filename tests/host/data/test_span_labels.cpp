// Span labels: the PREFIX_span sidecar read with its tokens, shifted with the labels into the
// batch (span of token t + 1 for the label at t, as the loss mask and teacher_logp), 0 for a
// blended dataset without one, absent from a batch whose datasets have none; a sidecar of the
// wrong length or dtype refused.
#include <gtest/gtest.h>

#include "data/blended_dataset.h"
#include "host/data/dataset_fixture.h"
#include "train/batch_source.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

using host::data::BlendedDataset;
using host::data::GptDataset;
using host::train::Batch;
using host::train::IndexedSource;

// The span the test gives a token: 0, 1 or 2 from its value.
std::uint8_t span_of(std::int32_t token) {
  return std::uint8_t((token / 3) % 3);
}

void add_span(const std::string& prefix, IndexedDType dtype = IndexedDType::u8, int cut_last = 0) {
  IndexedDatasetReader tokens(prefix + "_tokens");
  IndexedDatasetWriter w(prefix + "_span", dtype);
  for (std::size_t s = 0; s < tokens.sequences(); ++s) {
    std::vector<std::uint8_t> v;
    for (std::int32_t t : tokens.sequence<std::int32_t>(s)) v.push_back(span_of(t));
    if (s + 1 == tokens.sequences()) v.resize(v.size() - std::size_t(cut_last));
    if (dtype == IndexedDType::u8) {
      w.add_document(std::span<const std::uint8_t>(v));
    } else {
      std::vector<std::int32_t> wide(v.begin(), v.end());
      w.add_document(std::span<const std::int32_t>(wide));
    }
  }
  w.commit();
}

std::vector<float> values(const Tensor& t) {
  return t.defined() ? t.to_floats() : std::vector<float>{};
}

class SpanLabels : public DatasetDir {};

TEST_F(SpanLabels, SidecarFollowsItsTokens) {
  const std::string p = write("chat", {13, 9, 21, 8}, true);
  add_span(p);
  GptDataset ds(p, 5, 30, 3);
  ASSERT_TRUE(ds.has_span());
  for (std::int64_t i = 0; i < ds.samples(); ++i) {
    std::vector<std::int32_t> w(6);
    std::vector<std::uint8_t> s(6, 99);
    ds.window(i, w.data(), nullptr, nullptr, s.data());
    for (std::size_t t = 0; t < w.size(); ++t) EXPECT_EQ(s[t], span_of(w[t])) << i << " " << t;
  }
}

TEST_F(SpanLabels, BatchCarriesTheLabelsSpans) {
  const std::string p = write("chat", {13, 9, 21, 8}, true);
  add_span(p);
  auto blend = std::make_shared<const BlendedDataset>(std::vector<std::string>{p},
                                                      std::vector<double>{}, 6, 8, 1);
  ASSERT_TRUE(blend->has_span());
  IndexedSource src(blend, 2, 2, 0, 1, Device::cpu());
  EXPECT_TRUE(src.has_span());
  EXPECT_FALSE(src.has_teacher_logp());
  for (int mb = 0; mb < 4; ++mb) {
    const Batch b = src.next();
    const auto ids = values(b.ids), tg = values(b.targets), m = values(b.mask), s = values(b.span);
    ASSERT_EQ(s.size(), 12u);
    ASSERT_EQ(b.span.dtype(), DType::u8);
    for (std::size_t at = 0; at < 12; ++at) {
      EXPECT_EQ(s[at], float(span_of(std::int32_t(tg[at]))))
          << "the label's span (token t + 1), " << at;
      if (span_of(std::int32_t(ids[at])) != span_of(std::int32_t(tg[at])))
        EXPECT_NE(s[at], float(span_of(std::int32_t(ids[at])))) << "not the input token's";
      EXPECT_EQ(m[at], float(std::int32_t(tg[at]) % 2)) << "the mask is still the label's";
    }
  }
  // Without the sidecar the batch has none.
  auto plain = std::make_shared<const BlendedDataset>(
      std::vector<std::string>{write("nospan", {13, 9, 21, 8}, true)}, std::vector<double>{}, 6, 8,
      1);
  EXPECT_FALSE(plain->has_span());
  IndexedSource none(plain, 2, 2, 0, 1, Device::cpu());
  EXPECT_FALSE(none.has_span());
  EXPECT_FALSE(none.next().span.defined());
}

TEST_F(SpanLabels, ABlendedDatasetWithoutTheSidecarGivesSpanZero) {
  const std::string with = write("with", {50, 60, 70}, true, 0);
  add_span(with);
  const std::string without = write("without", {40, 30}, true, 100);  // tokens >= 100000
  auto blend = std::make_shared<const BlendedDataset>(std::vector<std::string>{with, without},
                                                      std::vector<double>{1, 1}, 4, 40, 5);
  IndexedSource src(blend, 4, 1, 0, 1, Device::cpu());
  int from_without = 0;
  for (int mb = 0; mb < 10; ++mb) {
    const Batch b = src.next();
    const auto tg = values(b.targets), s = values(b.span);
    ASSERT_EQ(s.size(), tg.size());
    for (std::size_t at = 0; at < s.size(); ++at) {
      if (tg[at] >= 100000) {
        EXPECT_EQ(s[at], 0.f) << at;
        ++from_without;
      } else {
        EXPECT_EQ(s[at], float(span_of(std::int32_t(tg[at])))) << at;
      }
    }
  }
  EXPECT_GT(from_without, 0);
}

TEST_F(SpanLabels, MismatchedSidecarSaysWhatWasExpected) {
  const std::string p = write("t", {13, 9}, true);
  add_span(p, IndexedDType::u8, 1);
  try {
    GptDataset ds(p, 4, 1, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find(p + "_span: its sequence lengths differ from " + p + "_tokens"),
        std::string::npos)
        << e.what();
  }
  add_span(p, IndexedDType::i32);
  try {
    GptDataset ds(p, 4, 1, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("_span: dtype is int32, expected uint8"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vpmoe::testing
