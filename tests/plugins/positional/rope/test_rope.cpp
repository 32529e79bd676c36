// positional.rope: RoPE's frequencies, the textbook rotation, the relative-position law, and
// GRAPE-M at initialisation equal to it bit for bit.
#include <gtest/gtest.h>

#include "rotary_reference.h"

namespace vpmoe::testing {
namespace {

using rotary::RotaryPositional;

std::unique_ptr<Positional> build(bool grape, const std::string& toml = "") {
  const Config cfg = rotary_config(toml);
  BuildArgs args;
  args.config = &cfg;
  return grape ? rotary::build_grape_m(args) : rotary::build_rope(args);
}

TEST(Rope, FrequenciesAreBaseToTheMinusTwoMOverD) {
  auto rope = build(false);
  EXPECT_TRUE(rope->parameters().empty());
  const auto omega = static_cast<RotaryPositional&>(*rope).frequencies().to_floats();
  ASSERT_EQ(omega.size(), 4u);
  for (std::size_t m = 0; m < 4; ++m) {
    const double want = std::pow(10000.0, -2.0 * double(m) / 8.0);
    EXPECT_NEAR(omega[m], want, 1e-6 * want) << m;
  }
}

TEST(Rope, RotatesAsTheTextbookAtLongPositions) {
  auto rope = build(false);
  std::mt19937 g(61);
  const std::int64_t T = 4096, H = 2, D = 8;
  Tensor x = rand_tensor(g, {1, T, H, D});
  Tensor y = x.clone();
  Context ctx{Device::cpu(), 1, T, true};
  rope->apply(ctx, y);
  Vec omega(4);
  for (int m = 0; m < 4; ++m) omega[m] = std::pow(10000.0, -2.0 * m / 8.0);
  // fp32 frequencies (relative error up to ~5e-7, from exp(phi / c)) times positions in the
  // thousands: angles off by ~1e-4 rad at the end of a 4096 sequence.
  expect_close(y, rotate_ref(to_double(x), omega, T, H, D), 1e-4, "rope forward");
}

// <R(n) q, R(m) k> depends on n - m only: the property RoPE exists for.
TEST(Rope, DotProductsDependOnRelativePosition) {
  auto rope = build(false);
  std::mt19937 g(62);
  const std::int64_t T = 40, D = 8;
  Tensor q1 = rand_tensor(g, {1, 1, 1, D}), k1 = rand_tensor(g, {1, 1, 1, D});
  // The same q and k at every position.
  std::vector<float> qv, kv;
  for (std::int64_t t = 0; t < T; ++t) {
    for (float v : q1.to_floats()) qv.push_back(v);
    for (float v : k1.to_floats()) kv.push_back(v);
  }
  Tensor q = Tensor::from_floats(qv, {1, T, 1, D}, DType::f32);
  Tensor k = Tensor::from_floats(kv, {1, T, 1, D}, DType::f32);
  Context ctx{Device::cpu(), 1, T, true};
  rope->apply(ctx, q);
  rope->apply(ctx, k);
  const auto qf = q.to_floats(), kf = k.to_floats();
  auto score = [&](std::int64_t i, std::int64_t j) {
    double s = 0;
    for (std::int64_t d = 0; d < D; ++d) s += double(qf[i * D + d]) * kf[j * D + d];
    return s;
  };
  for (std::int64_t delta : {0, 1, 5, 17})
    for (std::int64_t i = delta; i < T; i += 7)
      EXPECT_NEAR(score(i, i - delta), score(delta, 0), 1e-4) << i << " " << delta;
}

TEST(Rope, GrapeMAtInitialisationIsRopeBitForBit) {
  auto rope = build(false), grape = build(true);
  std::mt19937 g(63);
  Tensor x = rand_tensor(g, {2, 300, 4, 8});
  Tensor a = x.clone(), b = x.clone();
  Context ctx{Device::cpu(), 2, 300, true};
  rope->apply(ctx, a);
  grape->apply(ctx, b);
  const auto fa = a.to_floats(), fb = b.to_floats();
  ASSERT_EQ(fa.size(), fb.size());
  EXPECT_EQ(std::memcmp(fa.data(), fb.data(), fa.size() * sizeof(float)), 0);
}

TEST(Rope, FlopsCountQueryAndKeyHeads) {
  auto rope = build(false);
  // 6 d per pair rotation over (4 query + 2 key heads) / 2 pairs per head dim.
  EXPECT_DOUBLE_EQ(rope->flops_per_token(2048), 6.0 * 8 * 6 / 2);
}

}  // namespace
}  // namespace vpmoe::testing
