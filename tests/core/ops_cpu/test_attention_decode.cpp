// attention_decode against attention_forward (its rows must be the training rows bit for bit):
// all queries at once, the last n queries against every key, a key buffer that starts later
// (what a sliding-window cache holds), keys past the last query unread; windows, ALiBi
// slopes, the softmax offset and GQA groups.
#include <limits>

#include "cpu_test_util.h"

namespace vpmoe::testing {
namespace {

struct Case {
  std::int64_t B, T, nh, ng, d, window;
  bool alibi, sink;
};

std::string name(const Case& c) {
  return "B" + std::to_string(c.B) + " T" + std::to_string(c.T) + " nh" + std::to_string(c.nh) +
         " ng" + std::to_string(c.ng) + " window " + std::to_string(c.window) +
         (c.alibi ? " alibi" : "") + (c.sink ? " sink" : "");
}

// Rows [t0, t1) of dim 1 of x [B, T, ...] as a new tensor; rows outside x are NaN.
Tensor rows(const Tensor& x, std::int64_t t0, std::int64_t t1) {
  const std::int64_t B = x.size(0), T = x.size(1), inner = x.numel() / (B * T);
  const std::vector<float> src = x.to_floats();
  std::vector<float> out(std::size_t(B * (t1 - t0) * inner),
                         std::numeric_limits<float>::quiet_NaN());
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = std::max<std::int64_t>(t0, 0); t < std::min(t1, T); ++t)
      for (std::int64_t c = 0; c < inner; ++c)
        out[std::size_t((b * (t1 - t0) + t - t0) * inner + c)] =
            src[std::size_t((b * T + t) * inner + c)];
  Shape s = x.shape();
  s[1] = t1 - t0;
  return Tensor::from_floats(out, s, DType::f32);
}

void expect_same_bits(const Tensor& got, const Tensor& want, const std::string& what) {
  const std::vector<float> g = got.to_floats(), w = want.to_floats();
  ASSERT_EQ(g.size(), w.size()) << what;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < g.size(); ++i) bad += !(g[i] == w[i]);
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << g.size() << " values differ";
}

void check(const Case& c, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const Shape qs = {c.B, c.T, c.nh, c.d}, ks = {c.B, c.T, c.ng, c.d};
  const Tensor q = rand_tensor(rng, qs), k = rand_tensor(rng, ks), v = rand_tensor(rng, ks);
  ops::AttentionArgs a;
  a.window = c.window;
  a.scale = 0.7f;
  if (c.alibi) a.slopes = rand_tensor(rng, {c.nh}, 0.05f, 0.5f);
  if (c.sink) a.sink = rand_tensor(rng, {c.nh}, -1.f, 1.f);
  Tensor full = nan_tensor(qs), lse = nan_tensor({c.B, c.nh, c.T});
  ops::attention_forward(q, k, v, a, full, lse);

  // Every query at once is the training forward.
  Tensor out = nan_tensor(qs);
  ops::attention_decode(q, k, v, a, 0, out);
  expect_same_bits(out, full, name(c) + ": n = T");

  for (std::int64_t n : {std::int64_t(1), std::int64_t(3)}) {
    const std::int64_t p = c.T - n;  // the new queries' key index
    const Tensor qn = rows(q, p, c.T), want = rows(full, p, c.T);
    // Against every key; keys past the last query (NaN here) are never read.
    Tensor o1 = nan_tensor(qn.shape());
    ops::attention_decode(qn, rows(k, 0, c.T + 2), rows(v, 0, c.T + 2), a, p, o1);
    expect_same_bits(o1, want, name(c) + ": last " + std::to_string(n) + " queries");
    // Against a buffer that starts at the first key the first new query may see (a window
    // cache): the distances, hence the ALiBi bias, are unchanged.
    const std::int64_t k0 = c.window > 0 ? std::max<std::int64_t>(0, p - c.window + 1) : 0;
    Tensor o2 = nan_tensor(qn.shape());
    ops::attention_decode(qn, rows(k, k0, c.T), rows(v, k0, c.T), a, p - k0, o2);
    expect_same_bits(o2, want, name(c) + ": window buffer, last " + std::to_string(n));
  }
}

TEST(AttentionDecode, RowsAreTheTrainingForwardsBitForBit) {
  std::uint32_t seed = 1;
  for (std::int64_t window : {0, 1, 3, 5, 40})
    for (bool alibi : {false, true})
      for (bool sink : {false, true}) check({2, 9, 4, 2, 8, window, alibi, sink}, seed++);
  // Multi-head (ng = nh) and one KV group.
  check({1, 7, 4, 4, 4, 3, true, true}, seed++);
  check({2, 7, 4, 1, 4, 0, false, true}, seed++);
}

TEST(AttentionDecode, MatchesTheDenseFormula) {
  // One query at key index 4 of 6 keys, window 3: keys 2, 3, 4, with the offset and a slope.
  const std::int64_t d = 2;
  std::mt19937 rng(7);
  const Tensor q = rand_tensor(rng, {1, 1, 1, d}), k = rand_tensor(rng, {1, 6, 1, d}),
               v = rand_tensor(rng, {1, 6, 1, d});
  ops::AttentionArgs a;
  a.window = 3;
  a.scale = 0.5f;
  a.slopes = Tensor::from_floats({0.25f}, {1}, DType::f32);
  a.sink = Tensor::from_floats({0.3f}, {1}, DType::f32);
  Tensor out = nan_tensor({1, 1, 1, d});
  ops::attention_decode(q, k, v, a, 4, out);
  const Vec qv = to_double(q), kv = to_double(k), vv = to_double(v);
  double den = std::exp(0.3), o[2] = {0, 0};
  std::vector<double> e;
  for (int j = 2; j <= 4; ++j) {
    const double s = 0.5 * (qv[0] * kv[j * d] + qv[1] * kv[j * d + 1]) - 0.25 * (4 - j);
    e.push_back(std::exp(s));
    den += e.back();
  }
  for (int j = 2; j <= 4; ++j)
    for (int c = 0; c < d; ++c) o[c] += e[std::size_t(j - 2)] / den * vv[j * d + c];
  expect_close(out, Vec{o[0], o[1]}, 1e-6, "dense formula");
}

TEST(AttentionDecode, RejectsTooFewKeys) {
  const Tensor q = Tensor::zeros({1, 2, 2, 4}, DType::f32),
               k = Tensor::zeros({1, 5, 1, 4}, DType::f32);
  Tensor out = Tensor::zeros({1, 2, 2, 4}, DType::f32);
  EXPECT_THROW(ops::attention_decode(q, k, k, ops::AttentionArgs{}, 4, out), Error);
  EXPECT_THROW(ops::attention_decode(q, k, k, ops::AttentionArgs{}, -1, out), Error);
  EXPECT_NO_THROW(ops::attention_decode(q, k, k, ops::AttentionArgs{}, 3, out));
}

}  // namespace
}  // namespace vpmoe::testing
