// The chunked LM head + loss against a double forward: its value, dh at every entry and dw at
// sampled entries and along a random direction, for several chunk sizes and a mask.
#include "cpu_test_util.h"

namespace vpmoe::testing {
namespace {

struct Problem {
  std::int64_t N, H, V;
  Tensor h, w, targets, mask;
  Vec hv, wv, mv;
  std::vector<float> tv;
  double grad_scale;
};

// Mean of mask * CE over rows, scaled by grad_scale; loss_sum / mask_sum optionally returned.
double ref_loss(const Problem& p, const Vec& h, const Vec& w, double* loss_sum = nullptr) {
  double ls = 0, ms = 0;
  Vec logits(std::size_t(p.V));
  for (std::int64_t r = 0; r < p.N; ++r) {
    for (std::int64_t v = 0; v < p.V; ++v) {
      double s = 0;
      for (std::int64_t k = 0; k < p.H; ++k) s += h[r * p.H + k] * w[v * p.H + k];
      logits[v] = s;
    }
    double m = *std::max_element(logits.begin(), logits.end()), z = 0;
    for (double x : logits) z += std::exp(x - m);
    ls += p.mv[r] * (m + std::log(z) - logits[std::size_t(p.tv[r])]);
    ms += p.mv[r];
  }
  if (loss_sum) *loss_sum = ls;
  return ms > 0 ? p.grad_scale * ls / ms : 0.0;
}

Problem make_problem(std::mt19937& g, std::int64_t N, std::int64_t H, std::int64_t V) {
  Problem p{N, H, V};
  p.h = rand_tensor(g, {N, H});
  p.w = rand_tensor(g, {V, H});
  p.targets = rand_ids(g, N, V);
  std::vector<float> m(std::size_t(N), 1.0f);
  m[1] = 0.0f;
  m[N - 2] = 0.5f;
  p.mask = Tensor::from_floats(m, {N}, DType::f32);
  p.hv = to_double(p.h);
  p.wv = to_double(p.w);
  p.mv = to_double(p.mask);
  p.tv = p.targets.to_floats();
  p.grad_scale = 0.7;
  return p;
}

// V spans several vocabulary chunks of the CE op; chunk sizes include one that does not
// divide N and one larger than N.
TEST(LinearCrossEntropy, LossAndGradientsMatchFiniteDifferences) {
  std::mt19937 g(501);
  Problem p = make_problem(g, 7, 4, 5000);
  double loss_sum = 0;
  double want_mean = ref_loss(p, p.hv, p.wv, &loss_sum) / p.grad_scale;
  auto L_h = [&](const Vec& H) { return ref_loss(p, H, p.wv); };
  auto L_w = [&](const Vec& W) { return ref_loss(p, p.hv, W); };
  Vec gh = fd_grad(L_h, p.hv);
  std::vector<std::size_t> at;  // every column of the target rows, the ends and random rows
  std::vector<std::int64_t> rows = {0, p.V - 1};
  for (float t : p.tv) rows.push_back(std::int64_t(t));
  std::uniform_int_distribution<std::int64_t> u(0, p.V - 1);
  for (int k = 0; k < 8; ++k) rows.push_back(u(g));
  for (std::int64_t r : rows)
    for (std::int64_t k = 0; k < p.H; ++k) at.push_back(std::size_t(r * p.H + k));
  Vec gw = fd_grad_at(L_w, p.wv, at);
  // A random unit direction over all of w.
  Vec dir = to_double(rand_tensor(g, {p.V, p.H}));
  double nd = std::sqrt(dot(dir, dir));
  for (double& x : dir) x /= nd;
  const double eps = 1e-4;
  Vec wp = p.wv, wm = p.wv;
  for (std::size_t i = 0; i < wp.size(); ++i) wp[i] += eps * dir[i], wm[i] -= eps * dir[i];
  double dir_want = (L_w(wp) - L_w(wm)) / (2 * eps);

  for (std::int64_t chunk : {1, 3, 7, 16}) {
    SCOPED_TRACE("chunk_rows=" + std::to_string(chunk));
    Tensor dh = nan_tensor({p.N, p.H}), dw = rand_tensor(g, {p.V, p.H});
    Vec dw0 = to_double(dw);
    ops::CrossEntropyStats st = ops::linear_cross_entropy(p.h, p.w, p.targets, p.mask,
                                                          float(p.grad_scale), &dh, &dw, chunk);
    EXPECT_NEAR(st.mask_sum, 5.5, 1e-12);
    EXPECT_NEAR(st.loss_sum, loss_sum, 1e-5 * std::abs(loss_sum));
    EXPECT_NEAR(st.mean(), want_mean, 1e-5 * std::abs(want_mean));
    expect_close(dh, gh, 1e-5, "dh");
    Vec dwv = to_double(dw), delta(dwv.size());
    for (std::size_t i = 0; i < dwv.size(); ++i) delta[i] = dwv[i] - dw0[i];
    std::vector<float> got;
    for (std::size_t i : at) got.push_back(float(delta[i]));
    expect_close(got, gw, 1e-4, "dw sampled (accumulated)");
    double gnorm = std::sqrt(dot(delta, delta));
    EXPECT_NEAR(dot(delta, dir), dir_want, 1e-5 * gnorm) << "dw along a random direction";
  }
}

TEST(LinearCrossEntropy, NoMaskForwardOnlyAndPartialOutputs) {
  std::mt19937 g(502);
  Problem p = make_problem(g, 5, 3, 300);
  p.mv.assign(std::size_t(p.N), 1.0);
  double loss_sum = 0;
  ref_loss(p, p.hv, p.wv, &loss_sum);
  ops::CrossEntropyStats st =
      ops::linear_cross_entropy(p.h, p.w, p.targets, Tensor(), 1.0f, nullptr, nullptr, 2);
  EXPECT_NEAR(st.mask_sum, double(p.N), 0);
  EXPECT_NEAR(st.loss_sum, loss_sum, 1e-5 * loss_sum);
  EXPECT_NEAR(st.mean(), loss_sum / p.N, 1e-5 * loss_sum / p.N);

  // dh alone matches the finite differences of the unmasked mean.
  p.grad_scale = 1.0;
  Vec gh = fd_grad([&](const Vec& H) { return ref_loss(p, H, p.wv); }, p.hv);
  Tensor dh = nan_tensor({p.N, p.H});
  ops::linear_cross_entropy(p.h, p.w, p.targets, Tensor(), 1.0f, &dh, nullptr, 4);
  expect_close(dh, gh, 1e-5, "dh without mask");
}

TEST(LinearCrossEntropy, AllMaskedGivesZeroLossAndGradients) {
  std::mt19937 g(503);
  Problem p = make_problem(g, 4, 3, 50);
  Tensor zero = Tensor::zeros({p.N}, DType::f32);
  Tensor dh = nan_tensor({p.N, p.H}), dw = Tensor::zeros({p.V, p.H}, DType::f32);
  ops::CrossEntropyStats st =
      ops::linear_cross_entropy(p.h, p.w, p.targets, zero, 1.0f, &dh, &dw, 3);
  EXPECT_EQ(st.mask_sum, 0.0);
  EXPECT_EQ(st.mean(), 0.0);
  expect_close(dh, Vec(std::size_t(p.N * p.H), 0.0), 0, "dh");
  expect_close(dw, Vec(std::size_t(p.V * p.H), 0.0), 0, "dw");
}

TEST(LinearCrossEntropy, RejectsBadShapes) {
  Tensor h = Tensor::zeros({4, 3}, DType::f32), w = Tensor::zeros({10, 2}, DType::f32);
  Tensor t = Tensor::zeros({4}, DType::i32);
  EXPECT_THROW(ops::linear_cross_entropy(h, w, t, Tensor(), 1.f, nullptr, nullptr), Error);
  Tensor w3 = Tensor::zeros({10, 3}, DType::f32), m = Tensor::zeros({3}, DType::f32);
  EXPECT_THROW(ops::linear_cross_entropy(h, w3, t, m, 1.f, nullptr, nullptr), Error);
  Tensor dw = Tensor::zeros({10, 4}, DType::f32);
  EXPECT_THROW(ops::linear_cross_entropy(h, w3, t, Tensor(), 1.f, nullptr, &dw), Error);
  EXPECT_THROW(ops::linear_cross_entropy(h, w3, t, Tensor(), 1.f, nullptr, nullptr, 0), Error);
}

}  // namespace
}  // namespace vpmoe::testing
