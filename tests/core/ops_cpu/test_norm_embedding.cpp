// RMSNorm and embedding against double references and finite differences.
#include "cpu_test_util.h"

namespace vpmoe::testing {
namespace {

// y = x / sqrt(mean(x^2) + eps) * w over the last dim.
Vec ref_rmsnorm(const Vec& x, const Vec& w, std::int64_t C, double eps, Vec* rstd = nullptr) {
  Vec y(x.size());
  std::int64_t R = std::int64_t(x.size()) / C;
  if (rstd) rstd->assign(std::size_t(R), 0);
  for (std::int64_t r = 0; r < R; ++r) {
    double ss = 0;
    for (std::int64_t c = 0; c < C; ++c) ss += x[r * C + c] * x[r * C + c];
    double rs = 1 / std::sqrt(ss / C + eps);
    if (rstd) (*rstd)[r] = rs;
    for (std::int64_t c = 0; c < C; ++c) y[r * C + c] = x[r * C + c] * rs * w[c];
  }
  return y;
}

TEST(RmsNorm, ForwardMatchesReference) {
  std::mt19937 g(301);
  const std::int64_t C = 24;
  Tensor x = rand_tensor(g, {2, 5, C}, -2.f, 2.f), w = rand_tensor(g, {C}, 0.5f, 1.5f);
  Tensor y = nan_tensor(x.shape()), rstd = nan_tensor({10});
  ops::rmsnorm_forward(x, w, 1e-5f, y, rstd);
  Vec rs;
  Vec want = ref_rmsnorm(to_double(x), to_double(w), C, 1e-5, &rs);
  expect_close(y, want, 1e-5, "rmsnorm y");
  expect_close(rstd, rs, 1e-5, "rmsnorm rstd");
  Tensor bad = nan_tensor({9});
  EXPECT_THROW(ops::rmsnorm_forward(x, w, 1e-5f, y, bad), Error);
}

TEST(RmsNorm, BackwardMatchesFiniteDifferences) {
  std::mt19937 g(302);
  const std::int64_t C = 8;
  const Shape xs = {3, 2, C};
  const double eps = 1e-5;
  Tensor x = rand_tensor(g, xs), w = rand_tensor(g, {C}, 0.5f, 1.5f), r = rand_tensor(g, xs);
  Vec xv = to_double(x), wv = to_double(w), rv = to_double(r);
  Vec gx = fd_grad([&](const Vec& X) { return dot(rv, ref_rmsnorm(X, wv, C, eps)); }, xv);
  Vec gw = fd_grad([&](const Vec& W) { return dot(rv, ref_rmsnorm(xv, W, C, eps)); }, wv);

  Tensor y = Tensor::empty(xs, DType::f32), rstd = Tensor::empty({6}, DType::f32);
  ops::rmsnorm_forward(x, w, float(eps), y, rstd);
  Tensor dx = nan_tensor(xs), dw = rand_tensor(g, {C});
  Vec dw_want = to_double(dw);
  for (std::int64_t c = 0; c < C; ++c) dw_want[c] += gw[c];
  ops::rmsnorm_backward(r, x, w, rstd, dx, dw);
  expect_close(dx, gx, 1e-5, "rmsnorm dx");
  expect_close(dw, dw_want, 1e-5, "rmsnorm dw (accumulated)");
}

TEST(Embedding, ForwardGathersRows) {
  std::mt19937 g(303);
  const std::int64_t V = 11, C = 5, N = 9;
  Tensor table = rand_tensor(g, {V, C}), ids = rand_ids(g, N, V), out = nan_tensor({N, C});
  ops::embedding_forward(ids, table, out);
  Vec tv = to_double(table), want;
  for (float id : ids.to_floats())
    for (std::int64_t c = 0; c < C; ++c) want.push_back(tv[std::size_t(id) * C + c]);
  expect_close(out, want, 0, "embedding_forward");
}

TEST(Embedding, BackwardMatchesFiniteDifferencesWithRepeatedIds) {
  std::mt19937 g(304);
  const std::int64_t V = 6, C = 3, N = 10;  // N > V: ids repeat
  Tensor table = rand_tensor(g, {V, C}), ids = rand_ids(g, N, V), r = rand_tensor(g, {N, C});
  std::vector<float> idv = ids.to_floats();
  Vec rv = to_double(r);
  auto L = [&](const Vec& T) {
    double s = 0;
    for (std::int64_t i = 0; i < N; ++i)
      for (std::int64_t c = 0; c < C; ++c) s += rv[i * C + c] * T[std::size_t(idv[i]) * C + c];
    return s;
  };
  Vec gt = fd_grad(L, to_double(table));
  Tensor dtable = rand_tensor(g, {V, C});
  Vec want = to_double(dtable);
  for (std::size_t i = 0; i < want.size(); ++i) want[i] += gt[i];
  ops::embedding_backward(ids, r, dtable);
  expect_close(dtable, want, 1e-5, "embedding_backward (accumulated)");
}

TEST(Embedding, RejectsOutOfRangeIdsAndWrongDtypes) {
  Tensor table = Tensor::zeros({4, 2}, DType::f32), out = Tensor::zeros({2, 2}, DType::f32);
  Tensor bad = Tensor::from_floats({1, 4}, {2}, DType::i32);
  EXPECT_THROW(ops::embedding_forward(bad, table, out), Error);
  EXPECT_THROW(ops::embedding_backward(bad, out, table), Error);
  Tensor neg = Tensor::from_floats({-1, 0}, {2}, DType::i32);
  EXPECT_THROW(ops::embedding_forward(neg, table, out), Error);
  Tensor f = Tensor::from_floats({1, 2}, {2}, DType::f32);
  EXPECT_THROW(ops::embedding_forward(f, table, out), Error);
}

}  // namespace
}  // namespace vpmoe::testing
