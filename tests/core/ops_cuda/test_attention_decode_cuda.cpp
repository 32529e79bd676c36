// attention_decode and the rotary position offset on CUDA against the CPU ops on fresh random
// inputs: one query and a few, causal and windowed key buffers, ALiBi slopes, softmax offsets,
// GQA ratios, head dims up to 256, f32 and bf16. The decode kernel works in fp32.
#include "cuda_test_util.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

struct Case {
  std::int64_t B, n, Tk, q_off, nh, ng, d, window;
  bool slopes, sink;
};

TEST(OpsCuda, AttentionDecodeMatchesCpu) {
  VPMOE_REQUIRE_CUDA();
  const Case cases[] = {
      {1, 1, 1, 0, 1, 1, 16, 0, false, false},    {2, 1, 300, 299, 8, 2, 128, 0, true, true},
      {3, 1, 200, 150, 4, 2, 64, 0, false, true}, {1, 4, 129, 125, 8, 2, 128, 128, false, true},
      {2, 5, 20, 3, 4, 4, 32, 7, true, false},    {1, 1, 1000, 999, 4, 1, 256, 0, false, true},
      {2, 33, 33, 0, 4, 2, 16, 16, true, true},   {1, 2, 10, 8, 2, 1, 96, 3, false, false}};
  for (DType dt : {DType::f32, DType::bf16})
    for (const Case& c : cases) {
      const std::string what = std::string(dt_str(dt)) + " B=" + std::to_string(c.B) +
                               " n=" + std::to_string(c.n) + " Tk=" + std::to_string(c.Tk) +
                               " off=" + std::to_string(c.q_off) + " d=" + std::to_string(c.d) +
                               " W=" + std::to_string(c.window) + (c.slopes ? " alibi" : "") +
                               (c.sink ? " sink" : "");
      const Shape qs = {c.B, c.n, c.nh, c.d}, ks = {c.B, c.Tk, c.ng, c.d};
      Pair q = random_pair(qs, dt, -2.f, 2.f), k = random_pair(ks, dt, -2.f, 2.f),
           v = random_pair(ks, dt);
      Pair slopes = random_pair({c.nh}, DType::f32, 0.f, 0.1f);
      Pair sink = random_pair({c.nh}, DType::f32, -1.f, 2.f);
      ops::AttentionArgs ad, ac;
      ad.window = ac.window = c.window;
      ad.scale = ac.scale = float(1.0 / std::sqrt(double(c.d)));
      if (c.slopes) ad.slopes = slopes.dev, ac.slopes = slopes.cpu;
      if (c.sink) ad.sink = sink.dev, ac.sink = sink.cpu;
      Tensor out_d = poisoned(qs, dt), out_c = Tensor::empty(qs, DType::f32);
      ops::attention_decode(q.dev, k.dev, v.dev, ad, c.q_off, out_d);
      ops::attention_decode(q.cpu, k.cpu, v.cpu, ac, c.q_off, out_c);
      EXPECT_LT(rel_err(out_d, out_c), dt == DType::f32 ? 1e-5 : 1e-2) << what;
    }
}

TEST(OpsCuda, AttentionDecodeChecksItsKeys) {
  VPMOE_REQUIRE_CUDA();
  Tensor q = poisoned({1, 2, 2, 16}, DType::f32), k = poisoned({1, 5, 1, 16}, DType::f32);
  Tensor out = poisoned({1, 2, 2, 16}, DType::f32);
  EXPECT_THROW(ops::attention_decode(q, k, k, ops::AttentionArgs{}, 4, out), Error);
}

TEST(OpsCuda, RotaryPositionOffset) {
  VPMOE_REQUIRE_CUDA();
  for (DType dt : {DType::f32, DType::bf16})
    for (std::int64_t pos : {std::int64_t(0), std::int64_t(1), std::int64_t(5000)}) {
      const Shape xs = {2, 3, 4, 64};
      Pair x = random_pair(xs, dt);
      Pair omega = random_pair({32}, DType::f32, 0.f, 1.f);
      ops::rotary(x.dev, omega.dev, false, pos);
      ops::rotary(x.cpu, omega.cpu, false, pos);
      EXPECT_LT(rel_err(x.dev, x.cpu), tol(dt)) << dt_str(dt) << " position " << pos;
    }
}

}  // namespace
}  // namespace vpmoe::testing
