// The fused QKV layout (each d-vector where spec/attention.md §4 puts it) and the value
// residual against finite differences of a double-precision forward.
#include "cpu_test_util.h"

namespace vpmoe::testing {
namespace {

TEST(OpsCpu, QkvSplitFollowsTheMegatronLayout) {
  const std::int64_t rows = 3, nh = 6, ng = 2, d = 4, pg = nh / ng;
  const std::int64_t n = rows * (nh + 2 * ng) * d;
  std::vector<float> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[std::size_t(i)] = float(i);
  Tensor qkv = Tensor::from_floats(idx, {rows, n / rows}, DType::f32);
  Tensor q = nan_tensor({rows, nh, d}), k = nan_tensor({rows, ng, d}),
         v = nan_tensor({rows, ng, d});
  ops::qkv_split(qkv, q, k, v);
  const std::vector<float> pq = q.to_floats(), pk = k.to_floats(), pv = v.to_floats();
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t h = 0; h < nh; ++h)
      for (std::int64_t c = 0; c < d; ++c) {
        // Row r, group h / pg, slot h % pg within the group's (pg + 2) d-vectors.
        const std::int64_t at = r * (nh + 2 * ng) * d + ((h / pg) * (pg + 2) + h % pg) * d + c;
        ASSERT_EQ(pq[std::size_t((r * nh + h) * d + c)], float(at)) << "q r" << r << " h" << h;
      }
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t g = 0; g < ng; ++g)
      for (std::int64_t c = 0; c < d; ++c) {
        const std::int64_t kat = r * (nh + 2 * ng) * d + (g * (pg + 2) + pg) * d + c;
        ASSERT_EQ(pk[std::size_t((r * ng + g) * d + c)], float(kat)) << "k r" << r << " g" << g;
        ASSERT_EQ(pv[std::size_t((r * ng + g) * d + c)], float(kat + d)) << "v r" << r << " g" << g;
      }
  Tensor back = nan_tensor(qkv.shape());
  ops::qkv_merge(q, k, v, back);
  EXPECT_EQ(back.to_floats(), idx);
}

TEST(OpsCpu, QkvSplitRefusesMismatchedShapes) {
  Tensor qkv = Tensor::zeros({2, 40}, DType::f32);
  Tensor q = Tensor::zeros({2, 4, 4}, DType::f32), k = Tensor::zeros({2, 3, 4}, DType::f32);
  EXPECT_THROW(ops::qkv_split(qkv, q, k, k), Error);  // 3 groups do not divide 4 heads
  Tensor k2 = Tensor::zeros({2, 2, 4}, DType::f32), small = Tensor::zeros({2, 30}, DType::f32);
  EXPECT_THROW(ops::qkv_split(small, q, k2, k2), Error);
}

double sigmoid(double x) {
  return 1 / (1 + std::exp(-x));
}

TEST(OpsCpu, ValueResidualMatchesFiniteDifferences) {
  std::mt19937 g(5);
  const Shape s = {3, 2, 5};
  const std::int64_t n = shape_numel(s);
  Tensor v = rand_tensor(g, s), v1 = rand_tensor(g, s), w = rand_tensor(g, s);
  for (float theta0 : {0.3f, -1.2f, 9.21f}) {
    Tensor theta = Tensor::from_floats({theta0}, {1}, DType::f32);
    Tensor out = nan_tensor(s);
    ops::value_residual_forward(v, v1, theta, out);
    const Vec wv = to_double(w);
    // Packed inputs [v, v1, theta] -> sum(w * out) in double.
    auto loss = [&](const Vec& x) {
      const double lam = sigmoid(x[std::size_t(2 * n)]);
      double l = 0;
      for (std::int64_t i = 0; i < n; ++i)
        l += wv[std::size_t(i)] * (lam * x[std::size_t(i)] + (1 - lam) * x[std::size_t(n + i)]);
      return l;
    };
    Vec x = to_double(v), x1 = to_double(v1);
    x.insert(x.end(), x1.begin(), x1.end());
    x.push_back(theta0);
    Vec want_out(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const double lam = sigmoid(theta0);
      want_out[std::size_t(i)] = lam * x[std::size_t(i)] + (1 - lam) * x[std::size_t(n + i)];
    }
    expect_close(out, want_out, 1e-6, "forward");
    const Vec fd = fd_grad(loss, x);

    Tensor dv_raw = nan_tensor(s), dv1 = rand_tensor(g, s),
           dtheta = Tensor::from_floats({0.5f}, {1}, DType::f32);
    const Vec dv1_before = to_double(dv1);
    ops::value_residual_backward(w, v, v1, theta, dv_raw, dv1, dtheta);
    expect_close(dv_raw, Vec(fd.begin(), fd.begin() + n), 1e-6, "dv");
    Vec want_dv1(fd.begin() + n, fd.begin() + 2 * n);
    for (std::int64_t i = 0; i < n; ++i) want_dv1[std::size_t(i)] += dv1_before[std::size_t(i)];
    expect_close(dv1, want_dv1, 1e-6, "dv1 accumulates");
    EXPECT_NEAR(dtheta.item(), 0.5 + fd.back(), 1e-5 * std::max(1.0, std::abs(fd.back())))
        << "dtheta accumulates, theta " << theta0;
  }
}

}  // namespace
}  // namespace vpmoe::testing
