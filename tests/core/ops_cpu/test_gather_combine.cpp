// gather_rows, combine_rows and combine_rows_weight_grad against double loops, the weight
// gradient against finite differences of the combine (double), and bad indices refused.
#include "core/ops_cpu/cpu_test_util.h"

namespace vpmoe::testing {
namespace {

Tensor id_tensor(const std::vector<int>& v, Shape s) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_floats(f, std::move(s), DType::i32);
}

std::vector<int> random_ids(std::mt19937& g, std::size_t n, int V) {
  std::uniform_int_distribution<int> u(0, V - 1);
  std::vector<int> v(n);
  for (int& x : v) x = u(g);
  return v;
}

// sum_t,c dout[t,c] * sum_i w[t,i] src[idx[t,i], c], in double.
double combine_dot(const Vec& src, const std::vector<int>& idx, const Vec& w, const Vec& dout,
                   std::int64_t N, std::int64_t k, std::int64_t C) {
  double l = 0;
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t c = 0; c < C; ++c)
        l += dout[std::size_t(t * C + c)] * w[std::size_t(t * k + i)] *
             src[std::size_t(idx[std::size_t(t * k + i)] * C + c)];
  return l;
}

TEST(OpsCpu, GatherRowsWithAndWithoutScale) {
  std::mt19937 g(21);
  const std::int64_t V = 9, C = 5, M = 14;
  const Tensor src = rand_tensor(g, {V, C}), scale = rand_tensor(g, {M});
  const std::vector<int> idx = random_ids(g, std::size_t(M), int(V));
  const Vec s = to_double(src), f = to_double(scale);
  for (bool scaled : {false, true}) {
    Tensor out = Tensor::empty({M, C}, DType::f32);
    ops::gather_rows(src, id_tensor(idx, {M}), scaled ? scale : Tensor(), out);
    Vec want(std::size_t(M * C));
    for (std::int64_t r = 0; r < M; ++r)
      for (std::int64_t c = 0; c < C; ++c)
        want[std::size_t(r * C + c)] =
            (scaled ? f[std::size_t(r)] : 1.0) * s[std::size_t(idx[std::size_t(r)] * C + c)];
    expect_close(out, want, 1e-7, scaled ? "scaled gather" : "gather");
  }
}

TEST(OpsCpu, CombineRowsAndItsWeightGradient) {
  std::mt19937 g(22);
  const std::int64_t V = 12, C = 6, N = 5, k = 3;
  const Tensor src = rand_tensor(g, {V, C}), w = rand_tensor(g, {N, k}),
               dout = rand_tensor(g, {N, C});
  const std::vector<int> idx = random_ids(g, std::size_t(N * k), int(V));
  const Tensor it = id_tensor(idx, {N, k});
  const Vec s = to_double(src), wv = to_double(w), gv = to_double(dout);
  Tensor out = Tensor::empty({N, C}, DType::f32), ones = Tensor::empty({N, C}, DType::f32);
  ops::combine_rows(src, it, w, out);
  ops::combine_rows(src, it, Tensor(), ones);
  Vec want(std::size_t(N * C), 0.0), want1(std::size_t(N * C), 0.0);
  for (std::int64_t t = 0; t < N; ++t)
    for (std::int64_t i = 0; i < k; ++i)
      for (std::int64_t c = 0; c < C; ++c) {
        const double v = s[std::size_t(idx[std::size_t(t * k + i)] * C + c)];
        want[std::size_t(t * C + c)] += wv[std::size_t(t * k + i)] * v;
        want1[std::size_t(t * C + c)] += v;
      }
  expect_close(out, want, 1e-6, "weighted combine");
  expect_close(ones, want1, 1e-6, "unweighted combine");
  Tensor dw = Tensor::empty({N, k}, DType::f32);
  ops::combine_rows_weight_grad(dout, src, it, dw);
  expect_close(dw,
               fd_grad([&](const Vec& x) { return combine_dot(s, idx, x, gv, N, k, C); }, wv, 1e-6),
               1e-5, "dw vs finite differences");
}

TEST(OpsCpu, GatherAndCombineRefuseIndicesOutOfRange) {
  const Tensor src = Tensor::zeros({4, 2}, DType::f32);
  Tensor out = Tensor::empty({2, 2}, DType::f32);
  EXPECT_THROW(ops::gather_rows(src, id_tensor({0, 4}, {2}), Tensor(), out), Error);
  Tensor one = Tensor::empty({1, 2}, DType::f32);
  EXPECT_THROW(ops::combine_rows(src, id_tensor({-1, 0}, {1, 2}), Tensor(), one), Error);
}

}  // namespace
}  // namespace vpmoe::testing
