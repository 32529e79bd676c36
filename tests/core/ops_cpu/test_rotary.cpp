// Rotary rotation against a double reference and finite differences (x and omega).
#include "cpu_test_util.h"

namespace vpmoe::testing {
namespace {

// y = rotate(x) by t * omega, "rotate half" pairing; omega [D/2] or [H * D/2].
Vec ref_rotary(const Vec& x, const Vec& omega, std::int64_t B, std::int64_t T, std::int64_t H,
               std::int64_t D, bool per_head) {
  Vec y(x.size());
  const std::int64_t half = D / 2;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t h = 0; h < H; ++h) {
        const std::int64_t base = ((b * T + t) * H + h) * D;
        for (std::int64_t m = 0; m < half; ++m) {
          const double th = double(t) * omega[(per_head ? h * half : 0) + m];
          const double a = x[base + m], c = x[base + m + half];
          y[base + m] = a * std::cos(th) - c * std::sin(th);
          y[base + m + half] = c * std::cos(th) + a * std::sin(th);
        }
      }
  return y;
}

void check_rotary(bool per_head) {
  std::mt19937 g(per_head ? 411 : 410);
  const std::int64_t B = 2, T = 5, H = 3, D = 8;
  const Shape xs = {B, T, H, D};
  Tensor x = rand_tensor(g, xs);
  Tensor omega =
      per_head ? rand_tensor(g, {H, D / 2}, 0.1f, 1.5f) : rand_tensor(g, {D / 2}, 0.1f, 1.5f);
  const Vec xv = to_double(x), wv = to_double(omega);
  Tensor y = x.clone();
  ops::rotary(y, omega);
  expect_close(y, ref_rotary(xv, wv, B, T, H, D, per_head), 1e-6, "rotary y");

  // L = r . y: dx is the inverse rotation of r; domega by finite differences.
  Tensor r = rand_tensor(g, xs);
  const Vec rv = to_double(r);
  Vec gx =
      fd_grad([&](const Vec& X) { return dot(rv, ref_rotary(X, wv, B, T, H, D, per_head)); }, xv);
  Vec gw =
      fd_grad([&](const Vec& W) { return dot(rv, ref_rotary(xv, W, B, T, H, D, per_head)); }, wv);
  Tensor dx = r.clone();
  ops::rotary(dx, omega, /*inverse=*/true);
  expect_close(dx, gx, 1e-5, "rotary dx");
  Tensor dw = rand_tensor(g, omega.shape());
  Vec dw_want = to_double(dw);
  for (std::size_t i = 0; i < dw_want.size(); ++i) dw_want[i] += gw[i];
  ops::rotary_omega_grad(y, r, dw);
  expect_close(dw, dw_want, 1e-5, "rotary domega (accumulated)");
}

TEST(Rotary, SharedFrequenciesMatchReferenceAndFiniteDifferences) {
  check_rotary(false);
}
TEST(Rotary, PerHeadFrequenciesMatchReferenceAndFiniteDifferences) {
  check_rotary(true);
}

TEST(Rotary, InverseUndoesAndShapesAreChecked) {
  std::mt19937 g(412);
  Tensor x = rand_tensor(g, {1, 300, 2, 16});
  Tensor omega = rand_tensor(g, {8}, 0.f, 1.f);
  Tensor y = x.clone();
  ops::rotary(y, omega);
  ops::rotary(y, omega, true);
  expect_close(y, to_double(x), 1e-5, "rotate then inverse");
  Tensor bad = rand_tensor(g, {7});
  EXPECT_THROW(ops::rotary(y, bad), Error);
  Tensor odd = rand_tensor(g, {1, 2, 2, 5});
  EXPECT_THROW(ops::rotary(odd, omega), Error);
}

// Decode rotates new tokens where they sit: rows [p, T) rotated at offset p are the full
// rotation's rows, bit for bit.
TEST(Rotary, PositionOffsetRotatesAtAbsolutePositions) {
  std::mt19937 g(77);
  const std::int64_t T = 40, H = 3, D = 8;
  Tensor x = rand_tensor(g, {1, T, H, D});
  Tensor omega = rand_tensor(g, {D / 2}, 0.f, 1.f);
  Tensor full = x.clone();
  ops::rotary(full, omega);
  for (std::int64_t p : {std::int64_t(1), std::int64_t(17), T - 1}) {
    Tensor tail = x.view({T, H, D}).slice(p, T).clone().view({1, T - p, H, D});
    ops::rotary(tail, omega, false, p);
    const std::vector<float> got = tail.to_floats(), all = full.to_floats();
    const std::vector<float> want(all.begin() + p * H * D, all.end());
    EXPECT_EQ(got, want) << "offset " << p;
  }
}

}  // namespace
}  // namespace vpmoe::testing
