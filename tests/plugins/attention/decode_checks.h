#pragma once
// Decode through an attention layer's cache against its training forward: the same random
// input run whole, then as a prefill of p tokens and one-token steps; every decoded row must be
// the forward's row (fp32, to float rounding). Layers > 1 mix with random layer-1 values,
// which decode reads from ValueResidualState::v1_past (earlier tokens) and v1 (new ones).
#include "attention_checks.h"

namespace vpmoe::testing {

// Rows [t0, t1) of x [B, T, ...] as a new [B, t1 - t0, ...] tensor.
inline Tensor token_rows(const Tensor& x, std::int64_t t0, std::int64_t t1) {
  Shape s = x.shape();
  s[1] = t1 - t0;
  Tensor out = Tensor::empty(s, x.dtype(), x.device());
  for (std::int64_t b = 0; b < x.size(0); ++b) out.select(b).copy_from(x.select(b).slice(t0, t1));
  return out;
}

inline void check_decode_matches_forward(Attention& m, std::int64_t B, std::int64_t T,
                                         std::int64_t H, std::int64_t ng, std::int64_t d, int layer,
                                         bool value_residual, std::int64_t prefill,
                                         std::uint32_t seed) {
  const std::string what =
      m.spec_name() + " layer " + std::to_string(layer) + " prefill " + std::to_string(prefill);
  std::mt19937 g(seed);
  randomise_parameters(m, g, 0.3f);
  const Tensor x = rand_tensor(g, {B, T, H});
  const Tensor v1 = rand_tensor(g, {B, T, ng, d});
  const bool mixes = value_residual && layer > 1;
  ValueResidualState full;
  if (mixes) full.v1 = v1;
  const Tensor want =
      m.forward(Context{Device::cpu(), B, T, false}, x.view({B * T, H}), &full).view({B, T, H});
  if (value_residual && layer == 1) ASSERT_TRUE(full.v1.defined()) << what;

  auto cache = m.make_cache(B, T);
  ValueResidualState vr;
  if (mixes) vr.v1_past = v1;  // rows before the call's position are all decode may read
  for (std::int64_t p = 0; p < T;) {
    const std::int64_t n = p == 0 ? prefill : 1;
    Context ctx{Device::cpu(), B, n, false};
    ctx.position = p;
    vr.v1 = mixes ? token_rows(v1, p, p + n) : Tensor();
    const Tensor y = m.forward_cached(ctx, token_rows(x, p, p + n).view({B * n, H}), *cache, &vr);
    expect_close(y, to_double(token_rows(want, p, p + n)), 1e-5,
                 what + ": rows " + std::to_string(p) + ".." + std::to_string(p + n - 1));
    if (value_residual && layer == 1) {
      ASSERT_TRUE(vr.v1.defined()) << what << ": layer 1 sets v1 in decode too";
      expect_close(vr.v1, to_double(token_rows(full.v1, p, p + n)), 1e-6, what + ": v1");
    }
    p += n;
  }
  Context over{Device::cpu(), B, 1, false};
  over.position = T;
  EXPECT_THROW(m.forward_cached(over, x.view({B * T, H}).slice(0, B), *cache, &vr), Error)
      << what << ": past max_len";
}

}  // namespace vpmoe::testing
