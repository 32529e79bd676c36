// Softmax cross-entropy against a double reference (including V = 201,088 and rows whose
// max sits in a late vocabulary chunk) and its backward against finite differences.
#include "cpu_test_util.h"

namespace vpmoe::testing {
namespace {

// Per-row loss = lse - logit[target] in double; lse optionally returned.
Vec ref_ce(const Vec& x, const std::vector<float>& t, std::int64_t V, Vec* lse = nullptr) {
  std::int64_t N = std::int64_t(t.size());
  Vec loss(std::size_t(N), 0);
  if (lse) lse->assign(std::size_t(N), 0);
  for (std::int64_t r = 0; r < N; ++r) {
    const double* row = x.data() + r * V;
    double m = *std::max_element(row, row + V), s = 0;
    for (std::int64_t j = 0; j < V; ++j) s += std::exp(row[j] - m);
    double z = m + std::log(s);
    if (lse) (*lse)[r] = z;
    loss[r] = z - row[std::int64_t(t[r])];
  }
  return loss;
}

struct Ce {
  Tensor loss, lse;
};
Ce run_forward(const Tensor& logits, const Tensor& targets) {
  std::int64_t N = logits.size(0);
  Ce o{nan_tensor({N}), nan_tensor({N})};
  ops::cross_entropy_forward(logits, targets, o.loss, o.lse);
  return o;
}

TEST(CrossEntropy, ForwardMatchesReference) {
  std::mt19937 g(401);
  const std::int64_t N = 6, V = 37;
  Tensor x = rand_tensor(g, {N, V}, -3.f, 3.f), t = rand_ids(g, N, V);
  Ce o = run_forward(x, t);
  Vec lse, loss = ref_ce(to_double(x), t.to_floats(), V, &lse);
  expect_close(o.loss, loss, 1e-6, "loss");
  expect_close(o.lse, lse, 1e-6, "lse");
}

// Several vocabulary chunks, with the max in the last chunk (the running sum must rescale)
// and large offsets that would overflow a naive exp.
TEST(CrossEntropy, StreamsChunksWithOnlineMax) {
  std::mt19937 g(402);
  const std::int64_t N = 4, V = 9001;
  std::vector<float> v = randn(g, N * V, -2.f, 2.f);
  for (std::int64_t j = 0; j < V; ++j) v[0 * V + j] += 0.01f * float(j);  // rising row
  v[1 * V + V - 3] = 40.f;                                                // late spike
  for (std::int64_t j = 0; j < V; ++j) v[2 * V + j] += 95.f;              // exp overflow in f32
  v[3 * V + 5] = -1e4f;                                                   // very negative
  Tensor x = Tensor::from_floats(v, {N, V}, DType::f32), t = rand_ids(g, N, V);
  Ce o = run_forward(x, t);
  Vec lse, loss = ref_ce(to_double(x), t.to_floats(), V, &lse);
  expect_close(o.loss, loss, 1e-6, "loss");
  expect_close(o.lse, lse, 1e-6, "lse");
}

TEST(CrossEntropy, FullVocabulary201088) {
  std::mt19937 g(403);
  const std::int64_t N = 3, V = 201088;
  Tensor x = rand_tensor(g, {N, V}, -4.f, 4.f), t = rand_ids(g, N, V);
  Vec xv = to_double(x);
  std::vector<float> tv = t.to_floats();
  Ce o = run_forward(x, t);
  Vec lse, loss = ref_ce(xv, tv, V, &lse);
  expect_close(o.loss, loss, 1e-6, "loss V=201088");
  expect_close(o.lse, lse, 1e-6, "lse V=201088");

  // Backward, in place, against the analytic double gradient (finite differences check the
  // same formula on smaller V below).
  Tensor scale = Tensor::from_floats({0.5f, 0.0f, 2.0f}, {N}, DType::f32);
  std::vector<float> sv = scale.to_floats();
  ops::cross_entropy_backward(x, t, o.lse, scale, x);
  Vec want(xv.size());
  for (std::int64_t r = 0; r < N; ++r)
    for (std::int64_t j = 0; j < V; ++j)
      want[r * V + j] = sv[r] * (std::exp(xv[r * V + j] - lse[r]) - (j == std::int64_t(tv[r])));
  expect_close(x, want, 1e-5, "dlogits V=201088");
}

// L = sum_r s_r * loss_r, so dL/dlogits = backward with row_scale = s.
TEST(CrossEntropy, BackwardMatchesFiniteDifferences) {
  std::mt19937 g(404);
  const std::int64_t N = 4, V = 37;
  Tensor x = rand_tensor(g, {N, V}, -3.f, 3.f), t = rand_ids(g, N, V);
  Tensor s = Tensor::from_floats({0.7f, -1.3f, 0.0f, 0.25f}, {N}, DType::f32);
  Vec xv = to_double(x), sv = to_double(s);
  std::vector<float> tv = t.to_floats();
  Vec gx = fd_grad([&](const Vec& X) { return dot(sv, ref_ce(X, tv, V)); }, xv);
  Ce o = run_forward(x, t);
  Tensor dx = nan_tensor({N, V});
  ops::cross_entropy_backward(x, t, o.lse, s, dx);
  expect_close(dx, gx, 1e-5, "dlogits");
  std::vector<float> d = dx.to_floats();
  for (std::int64_t j = 0; j < V; ++j) EXPECT_EQ(d[2 * V + j], 0.0f) << "zero row_scale";
  ops::cross_entropy_backward(x, t, o.lse, s, x);  // in place
  expect_close(x, gx, 1e-5, "dlogits in place");
}

TEST(CrossEntropy, BackwardOverSeveralChunksMatchesFiniteDifferences) {
  std::mt19937 g(405);
  const std::int64_t N = 2, V = 5000;
  Tensor x = rand_tensor(g, {N, V}, -3.f, 3.f), t = rand_ids(g, N, V);
  Tensor s = rand_tensor(g, {N}, 0.5f, 2.f);
  Vec xv = to_double(x), sv = to_double(s);
  std::vector<float> tv = t.to_floats();
  std::vector<std::size_t> at;
  std::uniform_int_distribution<std::size_t> u(0, std::size_t(N * V - 1));
  for (int k = 0; k < 40; ++k) at.push_back(u(g));
  for (std::int64_t r = 0; r < N; ++r) at.push_back(std::size_t(r * V + std::int64_t(tv[r])));
  Vec gx = fd_grad_at([&](const Vec& X) { return dot(sv, ref_ce(X, tv, V)); }, xv, at);
  Ce o = run_forward(x, t);
  ops::cross_entropy_backward(x, t, o.lse, s, x);
  std::vector<float> d = x.to_floats(), got;
  for (std::size_t i : at) got.push_back(d[i]);
  expect_close(got, gx, 1e-5, "dlogits sampled");
}

TEST(CrossEntropy, RejectsBadTargetsAndShapes) {
  Tensor x = Tensor::zeros({2, 5}, DType::f32), loss = Tensor::zeros({2}, DType::f32);
  Tensor lse = Tensor::zeros({2}, DType::f32);
  Tensor bad = Tensor::from_floats({0, 5}, {2}, DType::i32);
  EXPECT_THROW(ops::cross_entropy_forward(x, bad, loss, lse), Error);
  Tensor t = Tensor::from_floats({0, 4}, {2}, DType::i32),
         short_loss = Tensor::zeros({1}, DType::f32);
  EXPECT_THROW(ops::cross_entropy_forward(x, t, short_loss, lse), Error);
  Tensor tf = Tensor::from_floats({0, 4}, {2}, DType::f32);
  EXPECT_THROW(ops::cross_entropy_forward(x, tf, loss, lse), Error);
  Tensor dx = Tensor::zeros({2, 4}, DType::f32);
  EXPECT_THROW(ops::cross_entropy_backward(x, t, lse, loss, dx), Error);
}

}  // namespace
}  // namespace vpmoe::testing
