// GptModel's incremental decode: the training forward's math one step at a time, each layer
// attending through its AttentionCache (vpmoe/attention.h).
#include <string>

#include "model/gpt_model.h"
#include "vpmoe/error.h"

namespace vpmoe::model {

DecodeState GptModel::make_decode_state(std::int64_t batch, std::int64_t max_len) {
  if (batch <= 0 || max_len <= 0)
    throw Error("decode: batch and max_len must be > 0, got " + std::to_string(batch) + " and " +
                std::to_string(max_len));
  DecodeState s;
  s.batch = batch, s.max_len = max_len;
  for (auto& l : layers_) {
    s.caches.push_back(l->attention().make_cache(batch, max_len));
    s.keep_v1 = s.keep_v1 || s.caches.back()->v1_history() > 0;
  }
  return s;
}

Tensor GptModel::decode(const Context& ctx, const Tensor& ids, DecodeState& s) {
  if (ids.ndim() != 2 || ids.size(0) != s.batch || ids.size(1) <= 0)
    throw Error("decode: ids must be [" + std::to_string(s.batch) +
                ", n > 0] (the decode state's " + "batch), got " + ids.str());
  const std::int64_t B = s.batch, n = ids.size(1), P = s.position;
  if (s.caches.size() != layers_.size())
    throw Error("decode: the decode state was not made by this model (make_decode_state)");
  if (P + n > s.max_len)
    throw Error("decode: " + std::to_string(n) + " new tokens at position " + std::to_string(P) +
                " pass the decode state's max_len " + std::to_string(s.max_len) +
                "; make it with a larger max_len");
  Context c = ctx;
  c.batch = B, c.seq_len = n, c.position = P, c.training = false;
  const DType act = embedding_.compute.dtype();
  Tensor x = Tensor::empty({B * n, o_.hidden}, act, o_.device);
  ops::embedding_forward(ids.view({B * n}), embedding_.compute, x);
  s.vr.v1 = Tensor();
  for (std::size_t l = 0; l < layers_.size(); ++l)
    x = layers_[l]->forward_cached(c, x, *s.caches[l], &s.vr);
  // Layer 1's values of the new tokens join the history the caches read from the next step on.
  if (s.keep_v1 && s.vr.v1.defined()) {
    const Tensor& v1 = s.vr.v1;  // [B, n, groups, head_dim]
    if (!s.vr.v1_past.defined())
      s.vr.v1_past = Tensor::zeros({B, s.max_len, v1.size(2), v1.size(3)}, v1.dtype(), v1.device());
    for (std::int64_t b = 0; b < B; ++b)
      s.vr.v1_past.select(b).slice(P, P + n).copy_from(v1.select(b));
  }
  s.vr.v1 = Tensor();
  // Each sequence's last new token, through the final norm.
  Tensor last = Tensor::empty({B, o_.hidden}, act, o_.device);
  for (std::int64_t b = 0; b < B; ++b)
    last.slice(b, b + 1).copy_from(x.slice(b * n + n - 1, b * n + n));
  Tensor h = Tensor::empty({B, o_.hidden}, act, o_.device);
  Tensor rstd = Tensor::empty({B}, DType::f32, o_.device);
  ops::rmsnorm_forward(last, final_norm_.value, float(o_.eps), h, rstd);
  s.position = P + n;
  return h;
}

Tensor GptModel::head_logits(const Tensor& h) const {
  const Tensor z = logits(h, o_.vocab);
  return z.device().is_cpu() ? z : z.to(Device::cpu());
}

}  // namespace vpmoe::model
