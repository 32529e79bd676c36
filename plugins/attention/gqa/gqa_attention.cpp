#include "gqa_attention.h"

namespace vpmoe::attention {

GqaAttention::GqaAttention(AttentionOptions o, Device device,
                           std::shared_ptr<Positional> positional)
    : AttentionLayer(std::move(o), device, std::move(positional)) {
  const std::int64_t rows = std::int64_t(o_.heads + 2 * o_.groups) * o_.head_dim;
  w_qkv_ = make_weight(o_.prefix + ".w_qkv", {rows, o_.hidden}, o_.init_std);
}

double GqaAttention::projection_flops() const {
  return 2.0 * o_.hidden * double(o_.heads + 2 * o_.groups) * o_.head_dim;
}

void GqaAttention::project(const Tensor& x, Tensor& q, Tensor& k, Tensor& v) {
  Tensor qkv = act({x.size(0), w_qkv_.value.size(0)});
  linear(x, w_qkv_, qkv);
  ops::qkv_split(qkv, q, k, v);
}

Tensor GqaAttention::project_backward(const Tensor& x, const Tensor& dq, const Tensor& dk,
                                      const Tensor& dv) {
  Tensor dqkv = act({x.size(0), w_qkv_.value.size(0)});
  ops::qkv_merge(dq, dk, dv, dqkv);
  Tensor dx = act({x.size(0), o_.hidden});
  linear_backward(x, dqkv, w_qkv_, dx, false);
  return dx;
}

std::unique_ptr<Attention> build_gqa(const BuildArgs& args) {
  return std::make_unique<GqaAttention>(attention_options(args, "attention.gqa"), args.device,
                                        args.positional);
}

}  // namespace vpmoe::attention
