// Teacher log-probabilities: float16 rounding against a reference computed here in double, the
// teacher_logp sidecar read with its tokens (plain and Harmony layouts), shifted with the
// labels into the batch, NaN for a blended dataset without it, absent from a batch whose
// datasets have none; the split hash pinned to SHA-256 values computed outside vpmoe.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "data/blended_dataset.h"
#include "data/float16.h"
#include "data/preprocess.h"
#include "host/data/dataset_fixture.h"
#include "train/batch_source.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

using host::data::BlendedDataset;
using host::data::float16_bits;
using host::data::float16_value;
using host::data::GptDataset;
using host::train::Batch;
using host::train::IndexedSource;

// Every non-negative finite float16, by its bits, computed from the definition in double.
const std::vector<double>& float16_table() {
  static const std::vector<double> table = [] {
    std::vector<double> t;
    for (int b = 0; b <= 0x7bff; ++b) {
      const int exp = b >> 10, man = b & 0x3ff;
      t.push_back(exp == 0 ? std::ldexp(double(man), -24)
                           : std::ldexp(double(1024 + man), exp - 25));
    }
    return t;
  }();
  return table;
}

// The reference: the nearest float16, a tie to the even bit pattern; |x| <= 65504.
std::uint16_t reference_bits(double x) {
  const auto& t = float16_table();
  const double a = std::fabs(x);
  const std::size_t hi = std::size_t(std::lower_bound(t.begin(), t.end(), a) - t.begin());
  std::size_t b = hi;
  if (t[hi] != a) {
    const std::size_t lo = hi - 1;
    const double dlo = a - t[lo], dhi = t[hi] - a;
    b = dlo < dhi ? lo : dhi < dlo ? hi : (lo % 2 == 0 ? lo : hi);
  }
  return std::uint16_t((std::signbit(x) ? 0x8000u : 0u) | b);
}

TEST(Float16, RoundsOnceToNearestEvenFromDouble) {
  const auto& t = float16_table();
  for (std::size_t b = 0; b < t.size(); ++b) {
    ASSERT_EQ(double(float16_value(std::uint16_t(b))), t[b]) << b;
    ASSERT_EQ(double(float16_value(std::uint16_t(b | 0x8000))), -t[b]) << b;
    ASSERT_EQ(float16_bits(-t[b]), std::uint16_t(b | 0x8000)) << "exact values stay";
  }
  // Every halfway point (a tie) and its neighbours on either side, in every binade.
  for (std::size_t b = 0; b + 1 < t.size(); ++b) {
    const double mid = (t[b] + t[b + 1]) / 2;  // exact in double
    for (double x : {mid, std::nextafter(mid, 0.0), std::nextafter(mid, 1e9)})
      ASSERT_EQ(float16_bits(-x), reference_bits(-x)) << x;
  }
  // Log-uniform doubles from 2^-30 to 65504 (a float conversion first would round twice).
  std::mt19937_64 g(7);
  std::uniform_real_distribution<double> e(-30, 15.99);
  for (int i = 0; i < 200000; ++i) {
    const double x = -std::exp2(e(g));
    ASSERT_EQ(float16_bits(x), reference_bits(x)) << x;
  }
  // A double that a round trip through float would tie and then round the wrong way.
  const double twice = -(1 + std::ldexp(1, -11) + std::ldexp(1, -40));
  EXPECT_EQ(float16_value(float16_bits(twice)), float(-(1 + std::ldexp(1, -10))));
  EXPECT_EQ(float16_bits(-65519.99), reference_bits(-65504.0));
  EXPECT_EQ(float16_bits(-65520.0), 0xfc00u);  // rounds to -inf: preprocess refuses it
  EXPECT_TRUE(std::isnan(float16_value(float16_bits(std::nan("")))));
}

// The fixture's tokens are 1000 * document + position; the teacher's value of token v is
// lp(v) (k / 64 with k < 977: exact in float16).
float lp(std::int32_t v) {
  return -float(v % 977) / 64.0f;
}

void add_teacher_logp(const std::string& prefix, IndexedDType dtype = IndexedDType::u16,
                      int cut_last = 0) {
  const std::string tokens_prefix =
      std::filesystem::exists(prefix + ".idx") ? prefix : prefix + "_tokens";
  IndexedDatasetReader tokens(tokens_prefix);
  IndexedDatasetWriter w(prefix + "_teacher_logp", dtype);
  for (std::size_t s = 0; s < tokens.sequences(); ++s) {
    std::vector<std::uint16_t> h;
    for (std::int32_t v : tokens.sequence<std::int32_t>(s)) h.push_back(float16_bits(lp(v)));
    if (s + 1 == tokens.sequences()) h.resize(h.size() - std::size_t(cut_last));
    if (dtype == IndexedDType::u16)
      w.add_document(std::span<const std::uint16_t>(h));
    else
      w.add_document(
          std::span<const std::int16_t>(reinterpret_cast<const std::int16_t*>(h.data()), h.size()));
  }
  w.commit();
}

class TeacherLogp : public DatasetDir {};

TEST_F(TeacherLogp, SidecarFollowsItsTokensInBothLayouts) {
  for (bool harmony : {false, true}) {
    const std::string p = write(harmony ? "chat" : "text", {13, 9, 21, 8}, harmony);
    add_teacher_logp(p);
    GptDataset ds(p, 5, 30, 3);
    ASSERT_TRUE(ds.has_teacher_logp());
    EXPECT_EQ(ds.has_loss_mask(), harmony);
    for (std::int64_t i = 0; i < ds.samples(); ++i) {
      std::vector<std::int32_t> w(6);
      std::vector<float> l(6);
      ds.window(i, w.data(), nullptr, l.data());
      for (std::size_t t = 0; t < w.size(); ++t) EXPECT_EQ(l[t], lp(w[t])) << i << " " << t;
    }
  }
}

TEST_F(TeacherLogp, MismatchedSidecarSaysWhatWasExpected) {
  const std::string p = write("t", {13, 9}, false);
  add_teacher_logp(p, IndexedDType::u16, 1);
  try {
    GptDataset ds(p, 4, 1, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p + "_teacher_logp: its sequence lengths differ from " +
                                         p + " "),
              std::string::npos)
        << e.what();
  }
  add_teacher_logp(p, IndexedDType::i16);
  try {
    GptDataset ds(p, 4, 1, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("_teacher_logp: dtype is int16, expected uint16"),
              std::string::npos)
        << e.what();
  }
}

std::vector<float> values(const Tensor& t) {
  return t.defined() ? t.to_floats() : std::vector<float>{};
}

TEST_F(TeacherLogp, BatchCarriesTheLabelsValues) {
  const std::string p = write("chat", {13, 9, 21, 8}, true);
  add_teacher_logp(p);
  auto blend = std::make_shared<const BlendedDataset>(std::vector<std::string>{p},
                                                      std::vector<double>{}, 6, 8, 1);
  ASSERT_TRUE(blend->has_teacher_logp());
  IndexedSource src(blend, 2, 2, 0, 1, Device::cpu());
  for (int mb = 0; mb < 4; ++mb) {
    const Batch b = src.next();
    const auto ids = values(b.ids), tg = values(b.targets), m = values(b.mask),
               l = values(b.teacher_logp);
    ASSERT_EQ(l.size(), 12u);
    ASSERT_EQ(b.teacher_logp.dtype(), DType::f32);
    for (std::size_t at = 0; at < 12; ++at) {
      EXPECT_EQ(l[at], lp(std::int32_t(tg[at]))) << "the label's value (token t + 1), " << at;
      EXPECT_EQ(m[at], float(std::int32_t(tg[at]) % 2)) << "the mask is still the label's";
    }
  }
  // Without the sidecar the batch has none.
  auto plain = std::make_shared<const BlendedDataset>(
      std::vector<std::string>{write("plain", {13, 9, 21, 8}, false)}, std::vector<double>{}, 6, 8,
      1);
  EXPECT_FALSE(plain->has_teacher_logp());
  IndexedSource none(plain, 2, 2, 0, 1, Device::cpu());
  EXPECT_FALSE(none.next().teacher_logp.defined());
}

TEST_F(TeacherLogp, ABlendedDatasetWithoutTheSidecarGivesNaN) {
  const std::string kd = write("kd", {50, 60, 70}, false, 0);
  add_teacher_logp(kd);
  const std::string plain = write("plain", {40, 30}, false, 100);  // tokens >= 100000
  auto blend = std::make_shared<const BlendedDataset>(std::vector<std::string>{kd, plain},
                                                      std::vector<double>{1, 1}, 4, 40, 5);
  IndexedSource src(blend, 4, 1, 0, 1, Device::cpu());
  int from_plain = 0;
  for (int mb = 0; mb < 10; ++mb) {
    const Batch b = src.next();
    const auto tg = values(b.targets), l = values(b.teacher_logp);
    ASSERT_EQ(l.size(), tg.size());
    for (std::size_t at = 0; at < l.size(); ++at) {
      if (tg[at] >= 100000) {
        EXPECT_TRUE(std::isnan(l[at])) << at;
        ++from_plain;
      } else {
        EXPECT_EQ(l[at], lp(std::int32_t(tg[at]))) << at;
      }
    }
  }
  EXPECT_GT(from_plain, 0);
}

TEST(SplitPoint, IsTheLeadingBitsOfTheValuesSha256) {
  // Computed with Python: u = int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 11,
  // text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).
  using host::data::split_point;
  EXPECT_EQ(split_point("\"synth-0\""), std::ldexp(5015592255978516.0, -53));
  EXPECT_EQ(split_point("12345"), std::ldexp(3151788254912546.0, -53));
  EXPECT_EQ(split_point(R"({"a":[1,2],"b":1})"), std::ldexp(5230311724860792.0, -53));
  EXPECT_EQ(split_point("\"\xC3\xA9\""), std::ldexp(8533361332926709.0, -53));
  // nlohmann's compact dump is that canonical text (object keys sorted, no spaces).
  EXPECT_EQ(nlohmann::json::parse(R"({"b": 1, "a": [1, 2]})").dump(), R"({"a":[1,2],"b":1})");
}

}  // namespace
}  // namespace vpmoe::testing
