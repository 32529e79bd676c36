#include "model/transformer_layer.h"

#include "device/host_profile.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::model {

TransformerLayer::TransformerLayer(std::unique_ptr<Attention> attention,
                                   std::unique_ptr<FeedForward> ffn, std::int64_t hidden,
                                   double eps, const std::string& prefix, Device device)
    : attention_(std::move(attention)), ffn_(std::move(ffn)), eps_(eps) {
  if (!attention_ || !ffn_)
    throw Error("transformer layer " + prefix + ": needs attention and ffn");
  attn_norm_ = Parameter::make(prefix + ".attention_norm", {hidden}, ParamRole::norm, device);
  ffn_norm_ = Parameter::make(prefix + ".ffn_norm", {hidden}, ParamRole::norm, device);
  ops::fill(attn_norm_.value, 1.f);
  ops::fill(ffn_norm_.value, 1.f);
}

std::vector<Parameter*> TransformerLayer::parameters() {
  std::vector<Parameter*> ps{&attn_norm_};
  for (Parameter* p : attention_->parameters()) ps.push_back(p);
  ps.push_back(&ffn_norm_);
  for (Parameter* p : ffn_->parameters()) ps.push_back(p);
  return ps;
}

double TransformerLayer::flops_per_token(std::int64_t seq_len) const {
  return attention_->flops_per_token(seq_len) + ffn_->flops_per_token(seq_len);
}

Tensor TransformerLayer::forward(const Context& ctx, const Tensor& x, ValueResidualState* vr) {
  const Tensor out = ffn_sublayer(ctx, attention_sublayer(ctx, x, vr));
  // What recomputes keeps only its input: x_ for the attention (also the norm's backward's),
  // h_ for the ffn; the whole layer only x_.
  if (recomputes_attention()) {
    rstd1_ = Tensor();
    attention_->drop_saved();
  }
  if (recomputes_ffn()) {
    rstd2_ = Tensor();
    ffn_->drop_saved();
  }
  if (recompute_ == Recompute::full) h_ = Tensor();
  forwarded_ = true;
  return out;
}

Tensor TransformerLayer::attention_sublayer(const Context& ctx, const Tensor& x,
                                            ValueResidualState* vr) {
  const std::int64_t N = x.size(0);
  x_ = x;
  Tensor n1 = Tensor::empty(x.shape(), x.dtype(), x.device());
  rstd1_ = Tensor::empty({N}, DType::f32, x.device());
  ops::rmsnorm_forward(x, attn_norm_.value, float(eps_), n1, rstd1_);
  Tensor h;
  {
    VPMOE_HOST_SCOPE("attention forward");
    h = attention_->forward(ctx, n1, vr);
  }
  ops::add(h, x, h);
  h_ = h;
  return h;
}

Tensor TransformerLayer::ffn_sublayer(const Context& ctx, const Tensor& h) {
  const std::int64_t N = h.size(0);
  Tensor n2 = Tensor::empty(h.shape(), h.dtype(), h.device());
  rstd2_ = Tensor::empty({N}, DType::f32, h.device());
  ops::rmsnorm_forward(h, ffn_norm_.value, float(eps_), n2, rstd2_);
  Tensor out;
  {
    VPMOE_HOST_SCOPE("ffn forward");
    out = ffn_->forward(ctx, n2);
  }
  ops::add(out, h, out);
  return out;
}

Tensor TransformerLayer::forward_cached(const Context& ctx, const Tensor& x, AttentionCache& cache,
                                        ValueResidualState* vr) {
  const std::int64_t N = x.size(0);
  Tensor n1 = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor rstd = Tensor::empty({N}, DType::f32, x.device());
  ops::rmsnorm_forward(x, attn_norm_.value, float(eps_), n1, rstd);
  Tensor h = attention_->forward_cached(ctx, n1, cache, vr);
  ops::add(h, x, h);
  Tensor n2 = Tensor::empty(h.shape(), h.dtype(), h.device());
  ops::rmsnorm_forward(h, ffn_norm_.value, float(eps_), n2, rstd);
  Tensor out = ffn_->forward(ctx, n2);
  ops::add(out, h, out);
  return out;
}

Tensor TransformerLayer::backward(const Context& ctx, const Tensor& dout, ValueResidualState* vr) {
  if (!forwarded_) throw Error("transformer layer: backward before forward");
  // Each recomputed sublayer runs just before its backward; the whole layer needs the
  // attention first for h.
  Context again = ctx;
  again.recomputing = true;
  if (recompute_ == Recompute::full) {
    VPMOE_HOST_SCOPE("recompute attention");
    attention_sublayer(again, x_, vr);
  }
  if (recomputes_ffn()) {
    VPMOE_HOST_SCOPE("recompute ffn");
    ffn_sublayer(again, h_);
  }
  // dh = dout (residual) + the ffn branch through its norm.
  Tensor dn2;
  {
    VPMOE_HOST_SCOPE("ffn backward");
    dn2 = ffn_->backward(ctx, dout);
  }
  Tensor dh = Tensor::empty(h_.shape(), h_.dtype(), h_.device());
  ops::rmsnorm_backward(ops::cast_to(dn2, h_.dtype()), h_, ffn_norm_.value, rstd2_, dh,
                        ffn_norm_.grad);
  ops::add(dh, ops::cast_to(dout, dh.dtype()), dh);
  // dx = dh (residual) + the attention branch through its norm.
  if (recompute_ == Recompute::attention) {
    VPMOE_HOST_SCOPE("recompute attention");
    attention_sublayer(again, x_, vr);
  }
  Tensor dn1;
  {
    VPMOE_HOST_SCOPE("attention backward");
    dn1 = attention_->backward(ctx, dh, vr);
  }
  Tensor dx = Tensor::empty(x_.shape(), x_.dtype(), x_.device());
  ops::rmsnorm_backward(ops::cast_to(dn1, x_.dtype()), x_, attn_norm_.value, rstd1_, dx,
                        attn_norm_.grad);
  ops::add(dx, dh, dx);
  x_ = h_ = rstd1_ = rstd2_ = Tensor();
  forwarded_ = false;
  return dx;
}

}  // namespace vpmoe::model
