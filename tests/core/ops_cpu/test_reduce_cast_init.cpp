// Reductions, bf16 casts (round to nearest even against an independent double reference) and
// the seeded init ops (statistics, determinism, counter offsets, bits of philox.h).
#include <cstring>
#include <limits>

#include "cpu_test_util.h"
#include "ops/philox.h"

namespace vpmoe::testing {
namespace {

float scalar_of(const Tensor& t) {
  return t.item();
}

TEST(Reduce, SumAndMax) {
  std::mt19937 g(601);
  Tensor x = rand_tensor(g, {17, 33}, -5.f, 3.f), out = nan_tensor({1});
  Vec xv = to_double(x);
  double s = 0, m = -INFINITY;
  for (double v : xv) s += v, m = std::max(m, v);
  ops::sum(x, out);
  EXPECT_NEAR(scalar_of(out), s, 1e-6 * std::abs(s) + 1e-6);
  ops::max(x, out);
  EXPECT_EQ(scalar_of(out), float(m));
  std::vector<float> v = x.to_floats();
  v[100] = NAN;
  ops::max(Tensor::from_floats(v, {17, 33}, DType::f32), out);
  EXPECT_TRUE(std::isnan(scalar_of(out))) << "max must propagate NaN";
  Tensor two = Tensor::zeros({2}, DType::f32);
  EXPECT_THROW(ops::sum(x, two), Error);
  EXPECT_THROW(ops::max(Tensor::empty({0}, DType::f32), out), Error);
}

TEST(Reduce, GlobalL2NormOverSeveralTensors) {
  std::mt19937 g(602);
  std::vector<Tensor> ts = {rand_tensor(g, {7, 5}), rand_tensor(g, {13}, -3.f, 3.f),
                            Tensor::zeros({0, 4}, DType::f32), rand_tensor(g, {2, 3, 4})};
  double ss = 0;
  for (const Tensor& t : ts)
    for (double v : to_double(t)) ss += v * v;
  Tensor out = nan_tensor({1});
  ops::global_l2_norm(ts, out);
  EXPECT_NEAR(scalar_of(out), std::sqrt(ss), 1e-6 * std::sqrt(ss));
  ops::global_l2_norm(std::span<const Tensor>(), out);
  EXPECT_EQ(scalar_of(out), 0.0f);
  ts.push_back(Tensor::zeros({3}, DType::i32));
  EXPECT_THROW(ops::global_l2_norm(ts, out), Error);
}

// Round to nearest even computed independently: the two bf16 neighbours of x and their
// distances, in double.
std::uint16_t ref_bf16_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  std::uint16_t lo = std::uint16_t(u >> 16), hi = std::uint16_t(lo + 1);  // toward +-inf
  if ((u & 0xffffu) == 0) return lo;
  auto val = [](std::uint16_t b) {
    std::uint32_t w = std::uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &w, 4);
    // Past the largest finite value rounding goes to inf as if it were 2^128.
    return std::isinf(f) ? std::copysign(0x1p128, double(f)) : double(f);
  };
  double dlo = std::abs(double(x) - val(lo)), dhi = std::abs(double(x) - val(hi));
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1u) ? hi : lo;
}

TEST(Cast, F32ToBf16RoundsToNearestEven) {
  std::mt19937 g(603);
  std::vector<float> v = {1.0f,
                          1.0f + 0x1p-8f,             // tie -> even (down)
                          1.0f + 3 * 0x1p-8f,         // tie -> even (up)
                          1.0f + 0x1p-8f + 0x1p-20f,  // just above the tie -> up
                          -(1.0f + 3 * 0x1p-8f),
                          0.0f,
                          -0.0f,
                          1e-40f,                             // subnormal
                          std::numeric_limits<float>::max(),  // rounds up to inf
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()};
  for (float x : randn(g, 2000, -1e4f, 1e4f)) v.push_back(x);
  std::int64_t n = std::int64_t(v.size());
  Tensor src = Tensor::from_floats(v, {n}, DType::f32), dst = Tensor::empty({n}, DType::bf16);
  ops::cast(src, dst);
  const bf16* b = dst.data_as<const bf16>();
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint16_t want = std::isinf(v[i]) ? std::uint16_t(std::signbit(v[i]) ? 0xff80 : 0x7f80)
                                          : ref_bf16_bits(v[i]);
    EXPECT_EQ(b[i].bits, want) << "x=" << v[i] << " (" << i << ")";
  }
  EXPECT_EQ(bf16_to_float(b[1]), 1.0f);
  EXPECT_EQ(bf16_to_float(b[2]), 1.0f + 0x1p-6f);
  EXPECT_TRUE(std::isinf(bf16_to_float(b[8])));

  // bf16 -> f32 is exact, and the round trip is the identity on bf16 values.
  Tensor back = nan_tensor({n});
  ops::cast(dst, back);
  std::vector<float> f = back.to_floats();
  for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(f[i], bf16_to_float(b[i]));
}

TEST(Cast, NaNStaysQuietNaN) {
  std::uint32_t snan_bits = 0x7f800001u, neg_qnan = 0xffc12345u;
  float snan, qnan;
  std::memcpy(&snan, &snan_bits, 4);
  std::memcpy(&qnan, &neg_qnan, 4);
  Tensor src = Tensor::from_floats({snan, qnan, NAN}, {3}, DType::f32);
  Tensor dst = Tensor::empty({3}, DType::bf16);
  ops::cast(src, dst);
  for (int i = 0; i < 3; ++i) {
    std::uint16_t bits = dst.data_as<const bf16>()[i].bits;
    EXPECT_EQ(bits & 0x7f80u, 0x7f80u) << i;
    EXPECT_NE(bits & 0x0040u, 0u) << "quiet bit " << i;
    EXPECT_TRUE(std::isnan(bf16_to_float(dst.data_as<const bf16>()[i]))) << i;
  }
  EXPECT_NE(dst.data_as<const bf16>()[1].bits & 0x8000u, 0u) << "sign kept";
}

TEST(Cast, SameDtypeCopiesAndBadPairsThrow) {
  std::mt19937 g(604);
  Tensor a = rand_tensor(g, {4, 6}), b = nan_tensor({4, 6});
  ops::cast(a, b);
  expect_close(b, to_double(a), 0, "f32 copy");
  Tensor i = Tensor::from_floats({1, -2, 3}, {3}, DType::i32), j = Tensor::zeros({3}, DType::i32);
  ops::cast(i, j);
  EXPECT_EQ(j.to_floats(), i.to_floats());
  Tensor fi = Tensor::zeros({3}, DType::f32);
  EXPECT_THROW(ops::cast(i, fi), Error);
  Tensor wrong = Tensor::zeros({4, 5}, DType::bf16);
  EXPECT_THROW(ops::cast(a, wrong), Error);
}

TEST(Cast, CastToReturnsTheSourceOrACastCopy) {
  std::mt19937 g(605);
  Tensor a = rand_tensor(g, {3, 5});
  EXPECT_EQ(ops::cast_to(a, DType::f32).data(), a.data()) << "no copy when the dtype matches";
  Tensor b = ops::cast_to(a, DType::bf16);
  EXPECT_EQ(b.dtype(), DType::bf16);
  EXPECT_EQ(b.shape(), a.shape());
  Tensor want = Tensor::empty({3, 5}, DType::bf16);
  ops::cast(a, want);
  for (int i = 0; i < 15; ++i)
    EXPECT_EQ(b.data_as<const bf16>()[i].bits, want.data_as<const bf16>()[i].bits) << i;
}

TEST(Init, NormalStatistics) {
  const std::int64_t n = 1000000;
  Tensor t = Tensor::empty({n}, DType::f32);
  ops::init_normal(t, 0.0f, 1.0f, 1234, 0);
  const float* p = t.data_as<const float>();
  double s = 0, s2 = 0;
  for (std::int64_t i = 0; i < n; ++i) s += p[i], s2 += double(p[i]) * p[i];
  double mean = s / n, sd = std::sqrt(s2 / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 5.0 / std::sqrt(double(n)));
  EXPECT_NEAR(sd, 1.0, 5.0 / std::sqrt(2.0 * n));
  // mean / std are applied: mean 3, std 0.5 on a smaller tensor.
  Tensor u = Tensor::empty({100000}, DType::f32);
  ops::init_normal(u, 3.0f, 0.5f, 99, 0);
  Vec uv = to_double(u);
  double us = 0, us2 = 0;
  for (double x : uv) us += x, us2 += x * x;
  double um = us / uv.size();
  EXPECT_NEAR(um, 3.0, 0.01);
  EXPECT_NEAR(std::sqrt(us2 / uv.size() - um * um), 0.5, 0.01);
}

TEST(Init, DeterministicAndOffsetShifts) {
  const std::int64_t n = 4096, k = 37;
  Tensor a = Tensor::empty({n}, DType::f32), b = Tensor::empty({n}, DType::f32);
  Tensor c = Tensor::empty({n - k}, DType::f32), d = Tensor::empty({n}, DType::f32);
  ops::init_normal(a, 0.1f, 0.02f, 7, 0);
  ops::init_normal(b, 0.1f, 0.02f, 7, 0);
  ops::init_normal(c, 0.1f, 0.02f, 7, k);
  ops::init_normal(d, 0.1f, 0.02f, 8, 0);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0) << "same (seed, offset)";
  EXPECT_EQ(std::memcmp(c.data(), a.data_as<float>() + k, c.nbytes()), 0)
      << "element i of offset k == element i+k of offset 0";
  EXPECT_NE(std::memcmp(a.data(), d.data(), a.nbytes()), 0) << "another seed";
  // Bits as philox.h defines them (this file is also built without FMA contraction).
  const float* pa = a.data_as<const float>();
  for (std::int64_t i = 0; i < n; i += 97)
    EXPECT_EQ(pa[i], float(double(0.1f) + double(0.02f) * rng::normal(std::uint64_t(i), 7))) << i;
}

TEST(Init, UniformRangeStatisticsAndOffsets) {
  const std::int64_t n = 200000, k = 5;
  Tensor t = Tensor::empty({n}, DType::f32), s = Tensor::empty({n - k}, DType::f32);
  ops::init_uniform(t, -2.0f, 3.0f, 42, 0);
  ops::init_uniform(s, -2.0f, 3.0f, 42, k);
  Vec v = to_double(t);
  double mean = 0, lo = INFINITY, hi = -INFINITY;
  for (double x : v) mean += x, lo = std::min(lo, x), hi = std::max(hi, x);
  mean /= n;
  EXPECT_GE(lo, -2.0);
  EXPECT_LE(hi, 3.0);
  EXPECT_NEAR(mean, 0.5, 5 * 5.0 / std::sqrt(12.0 * n));
  EXPECT_EQ(std::memcmp(s.data(), t.data_as<float>() + k, s.nbytes()), 0);
  const float* p = t.data_as<const float>();
  for (std::int64_t i = 0; i < n; i += 1009)
    EXPECT_EQ(p[i], float(-2.0 + 5.0 * rng::uniform(std::uint64_t(i), 42))) << i;
  Tensor bad = Tensor::empty({4}, DType::i32);
  EXPECT_THROW(ops::init_uniform(bad, 0.f, 1.f, 1, 0), Error);
}

}  // namespace
}  // namespace vpmoe::testing
