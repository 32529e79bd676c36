// TPA decode: the cache keeps the k and v factors of the window's tokens, not k and v. Each
// step puts the window's factors in position order (ring, then the new tokens), rebuilds k and
// v exactly as the training forward builds them (assembly, bias, QK-norm, rotation at the
// tokens' absolute positions, the value-residual mix with those tokens' v1) and attends.
#include <string>

#include "kv_cache.h"
#include "tpa_attention.h"
#include "vpmoe/error.h"

namespace vpmoe::attention {

std::unique_ptr<AttentionCache> TpaAttention::make_cache(std::int64_t batch,
                                                         std::int64_t max_len) const {
  if (batch <= 0 || max_len <= 0)
    throw Error(o_.spec_name + ": a decode cache needs batch and max_len > 0");
  const std::int64_t slots = o_.window > 0 ? std::min<std::int64_t>(o_.window, max_len) : max_len;
  const std::int64_t ng = o_.groups, R = r_.kv, d = o_.head_dim;
  auto c = std::make_unique<TpaCache>();
  c->ka = Tensor::zeros({batch, slots, ng, R}, act_dtype(), device_);
  c->kb = Tensor::zeros({batch, slots, R, d}, act_dtype(), device_);
  c->va = Tensor::zeros({batch, slots, ng, R}, act_dtype(), device_);
  c->vb = Tensor::zeros({batch, slots, R, d}, act_dtype(), device_);
  c->max_len = max_len;
  c->history = o_.value_residual && o_.layer > 1 ? slots : 0;
  return c;
}

Tensor TpaAttention::attend_cached(const Context& ctx, const Tensor& q, const Tensor&,
                                   const Tensor&, AttentionCache& cache, ValueResidualState* vr) {
  auto* c = dynamic_cast<TpaCache*>(&cache);
  if (!c) throw Error(o_.spec_name + ": forward_cached got another layer kind's cache");
  const std::int64_t B = q.size(0), n = q.size(1), P = ctx.position;
  const std::int64_t ng = o_.groups, R = r_.kv, d = o_.head_dim;
  if (c->ka.size(0) != B || P < 0 || P + n > c->max_len)
    throw Error(o_.spec_name + ": " + std::to_string(n) + " tokens at position " +
                std::to_string(P) + " do not fit a cache of " + std::to_string(c->ka.size(0)) +
                " sequences x " + std::to_string(c->max_len) + " tokens");
  // The window of the first new token starts at p0; `old` of its tokens are in the rings.
  const std::int64_t p0 = o_.window > 0 ? std::max<std::int64_t>(0, P - (o_.window - 1)) : 0;
  const std::int64_t old = P - p0, Wk = old + n;
  auto window_of = [&](const Tensor& ring, const Tensor& fresh) {
    Shape s = ring.shape();
    s[1] = Wk;
    Tensor w = act(s);
    ring_read(ring, p0, w, 0, old);
    Shape fs = ring.shape();
    fs[1] = n;
    copy_tokens(w, old, fresh.view(fs), 0, n);
    ring_write(ring, P, fresh.view(fs), 0, n);  // after the old ones were read
    return w;
  };
  const Tensor ka = window_of(c->ka, k_.fa), kb = window_of(c->kb, k_.fb);
  const Tensor va = window_of(c->va, v_.fa), vb = window_of(c->vb, v_.fb);
  q_.fa = q_.fb = k_.fa = k_.fb = v_.fa = v_.fb = Tensor();

  Tensor k = act({B * Wk, ng, d}), v = act({B * Wk, ng, d});
  ops::gemm(ka.view({B * Wk, ng, R}), kb.view({B * Wk, R, d}), k, false, false, 1.f / float(R));
  ops::gemm(va.view({B * Wk, ng, R}), vb.view({B * Wk, R, d}), v, false, false, 1.f / float(R));
  add_bias(k, 1);
  add_bias(v, 2);
  Context wctx = ctx;
  wctx.position = p0, wctx.seq_len = Wk;
  const Tensor kw = finish_keys(wctx, k.view({B, Wk, ng, d}));
  Tensor vw = v.view({B, Wk, ng, d});
  if (mixes_values(vr)) {
    if (old > 0 && !vr->v1_past.defined())
      throw Error(o_.spec_name + " (layer " + std::to_string(o_.layer) +
                  "): decode needs layer 1's values of the window (ValueResidualState::v1_past)");
    if (!vr->v1.defined())
      throw Error(o_.spec_name + " (layer " + std::to_string(o_.layer) +
                  "): the value residual needs layer 1's values; run layer 1 first");
    Tensor v1 = act({B, Wk, ng, d});
    copy_tokens(v1, 0, vr->v1_past, p0, old);
    copy_tokens(v1, old, vr->v1, 0, n);
    vw = mix_values(vw, v1, vr);
  }
  return attend(q, kw, vw, old);
}

}  // namespace vpmoe::attention
