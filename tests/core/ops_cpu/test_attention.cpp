// Core attention (window, ALiBi slopes, softmax offset, GQA) against a dense double reference
// and finite differences, plus the spec's invariants.
#include <limits>

#include "cpu_test_util.h"

namespace vpmoe::testing {
namespace {

struct Dims {
  std::int64_t B, T, nh, ng, d;
};

// Dense reference: out [B, T, nh, d] and lse [B, nh, T] in double.
void ref_attention(const Dims& z, const Vec& q, const Vec& k, const Vec& v, std::int64_t window,
                   double scale, const Vec* slopes, const Vec* sink, Vec& out, Vec& lse) {
  out.assign(std::size_t(z.B * z.T * z.nh * z.d), 0.0);
  lse.assign(std::size_t(z.B * z.nh * z.T), 0.0);
  for (std::int64_t b = 0; b < z.B; ++b)
    for (std::int64_t h = 0; h < z.nh; ++h)
      for (std::int64_t i = 0; i < z.T; ++i) {
        const std::int64_t g = h / (z.nh / z.ng);
        std::vector<double> s(std::size_t(z.T), -std::numeric_limits<double>::infinity());
        double m = sink ? (*sink)[h] : -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j <= i; ++j) {
          if (window > 0 && i - j >= window) continue;
          double dot = 0;
          for (std::int64_t c = 0; c < z.d; ++c)
            dot +=
                q[((b * z.T + i) * z.nh + h) * z.d + c] * k[((b * z.T + j) * z.ng + g) * z.d + c];
          s[j] = scale * dot - (slopes ? (*slopes)[h] * double(i - j) : 0.0);
          m = std::max(m, s[j]);
        }
        double den = sink ? std::exp((*sink)[h] - m) : 0.0;
        for (double x : s) den += std::exp(x - m);
        for (std::int64_t j = 0; j <= i; ++j)
          for (std::int64_t c = 0; c < z.d; ++c)
            out[((b * z.T + i) * z.nh + h) * z.d + c] +=
                std::exp(s[j] - m) / den * v[((b * z.T + j) * z.ng + g) * z.d + c];
        lse[(b * z.nh + h) * z.T + i] = m + std::log(den);
      }
}

void check(std::int64_t window, bool alibi, bool with_sink, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const Dims z{2, 7, 4, 2, 4};
  const Shape qs = {z.B, z.T, z.nh, z.d}, ks = {z.B, z.T, z.ng, z.d};
  Tensor q = rand_tensor(rng, qs), k = rand_tensor(rng, ks), v = rand_tensor(rng, ks);
  ops::AttentionArgs a;
  a.window = window;
  a.scale = 0.5f;
  if (alibi) a.slopes = rand_tensor(rng, {z.nh}, 0.05f, 0.5f);
  if (with_sink) a.sink = rand_tensor(rng, {z.nh}, -1.f, 1.f);
  Vec qv = to_double(q), kv = to_double(k), vv = to_double(v);
  Vec sl = alibi ? to_double(a.slopes) : Vec{}, sk = with_sink ? to_double(a.sink) : Vec{};
  const Vec* slp = alibi ? &sl : nullptr;

  Tensor out = nan_tensor(qs), lse = nan_tensor({z.B, z.nh, z.T});
  ops::attention_forward(q, k, v, a, out, lse);
  Vec ro, rl;
  ref_attention(z, qv, kv, vv, window, 0.5, slp, with_sink ? &sk : nullptr, ro, rl);
  const std::string what =
      "window " + std::to_string(window) + (alibi ? " alibi" : "") + (with_sink ? " sink" : "");
  expect_close(out, ro, 1e-6, what + " out");
  expect_close(lse, rl, 1e-6, what + " lse");

  Tensor r = rand_tensor(rng, qs);
  const Vec rv = to_double(r);
  auto loss = [&](const Vec& Q, const Vec& K, const Vec& V, const Vec& S) {
    Vec o, l;
    ref_attention(z, Q, K, V, window, 0.5, slp, with_sink ? &S : nullptr, o, l);
    return dot(rv, o);
  };
  Vec gq = fd_grad([&](const Vec& X) { return loss(X, kv, vv, sk); }, qv);
  Vec gk = fd_grad([&](const Vec& X) { return loss(qv, X, vv, sk); }, kv);
  Vec gv = fd_grad([&](const Vec& X) { return loss(qv, kv, X, sk); }, vv);
  Tensor dq = nan_tensor(qs), dk = nan_tensor(ks), dv = nan_tensor(ks);
  Tensor dsink = with_sink ? rand_tensor(rng, {z.nh}) : Tensor();
  Vec dsink_want;
  if (with_sink) {
    Vec gs = fd_grad([&](const Vec& X) { return loss(qv, kv, vv, X); }, sk);
    dsink_want = to_double(dsink);
    for (std::size_t h = 0; h < gs.size(); ++h) dsink_want[h] += gs[h];
  }
  ops::attention_backward(r, q, k, v, out, lse, a, dq, dk, dv, dsink);
  expect_close(dq, gq, 1e-5, what + " dq");
  expect_close(dk, gk, 1e-5, what + " dk");
  expect_close(dv, gv, 1e-5, what + " dv");
  if (with_sink) expect_close(dsink, dsink_want, 1e-5, what + " dsink (accumulated)");
}

TEST(Attention, CausalMatchesReferenceAndFiniteDifferences) {
  check(0, false, false, 701);
}
TEST(Attention, WindowAlibiAndSinkMatchReferenceAndFiniteDifferences) {
  check(3, true, true, 702);
  check(1, false, true, 703);
  check(5, true, false, 704);
}

TEST(Attention, WindowAtLeastTheSequenceIsCausal) {
  std::mt19937 rng(705);
  const Shape qs = {1, 9, 2, 4}, ks = {1, 9, 1, 4};
  Tensor q = rand_tensor(rng, qs), k = rand_tensor(rng, ks), v = rand_tensor(rng, ks);
  ops::AttentionArgs causal, wide;
  wide.window = 9;
  Tensor o1 = nan_tensor(qs), o2 = nan_tensor(qs), l1 = nan_tensor({1, 2, 9}),
         l2 = nan_tensor({1, 2, 9});
  ops::attention_forward(q, k, v, causal, o1, l1);
  ops::attention_forward(q, k, v, wide, o2, l2);
  EXPECT_EQ(o1.to_floats(), o2.to_floats());
}

// With equal scores a query averages the values of its allowed keys; v_j = j reveals how many
// it saw: min(i + 1, W).
TEST(Attention, QuerySeesMinOfIPlusOneAndWindowKeys) {
  const std::int64_t T = 20, W = 6;
  std::vector<float> vj;
  for (std::int64_t j = 0; j < T; ++j) vj.push_back(float(j));
  Tensor q = Tensor::zeros({1, T, 1, 1}, DType::f32), k = Tensor::zeros({1, T, 1, 1}, DType::f32);
  Tensor v = Tensor::from_floats(vj, {1, T, 1, 1}, DType::f32);
  ops::AttentionArgs a;
  a.window = W;
  Tensor o = nan_tensor({1, T, 1, 1}), l = nan_tensor({1, 1, T});
  ops::attention_forward(q, k, v, a, o, l);
  const auto of = o.to_floats();
  for (std::int64_t i = 0; i < T; ++i) {
    const double seen = 2.0 * (double(i) - of[std::size_t(i)]) + 1.0;  // mean of i-n+1 .. i
    EXPECT_NEAR(seen, double(std::min(i + 1, W)), 1e-4) << i;
  }
}

TEST(Attention, VeryNegativeOffsetIsPlainSoftmaxAndRowsSumToOneMinusSink) {
  std::mt19937 rng(706);
  const Shape qs = {1, 8, 2, 4}, ks = {1, 8, 2, 4};
  Tensor q = rand_tensor(rng, qs), k = rand_tensor(rng, ks), v = rand_tensor(rng, ks);
  ops::AttentionArgs plain, sunk;
  sunk.sink = Tensor::from_floats({-1e30f, -1e30f}, {2}, DType::f32);
  Tensor o1 = nan_tensor(qs), o2 = nan_tensor(qs), l1 = nan_tensor({1, 2, 8}),
         l2 = nan_tensor({1, 2, 8});
  ops::attention_forward(q, k, v, plain, o1, l1);
  ops::attention_forward(q, k, v, sunk, o2, l2);
  expect_close(o2, to_double(o1), 1e-7, "offset -> -inf");
  // v = 1 everywhere: out = sum of p = 1 - p_sink = 1 - exp(sink - lse).
  Tensor ones = Tensor::from_floats(std::vector<float>(64, 1.f), ks, DType::f32);
  ops::AttentionArgs with;
  with.sink = Tensor::from_floats({0.7f, -0.3f}, {2}, DType::f32);
  ops::attention_forward(q, k, ones, with, o1, l1);
  const auto of = o1.to_floats(), lf = l1.to_floats();
  for (std::int64_t i = 0; i < 8; ++i)
    for (std::int64_t h = 0; h < 2; ++h) {
      const double p_sink = std::exp((h ? -0.3 : 0.7) - lf[std::size_t(h * 8 + i)]);
      EXPECT_NEAR(of[std::size_t((i * 2 + h) * 4)], 1.0 - p_sink, 1e-6) << i << " " << h;
    }
}

}  // namespace
}  // namespace vpmoe::testing
