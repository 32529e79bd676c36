#pragma once
// attention.gqa (spec/attention.md §5): one projection W_qkv [(nh + 2 ng) d, hidden] whose
// output is in Megatron's fused layout, split into q, k, v.
#include <memory>

#include "attention_layer.h"

namespace vpmoe::attention {

class GqaAttention final : public AttentionLayer {
 public:
  GqaAttention(AttentionOptions o, Device device, std::shared_ptr<Positional> positional);
  const Parameter& w_qkv() const { return w_qkv_; }

 protected:
  void project(const Tensor& x, Tensor& q, Tensor& k, Tensor& v) override;
  Tensor project_backward(const Tensor& x, const Tensor& dq, const Tensor& dk,
                          const Tensor& dv) override;
  std::vector<Parameter*> projection_parameters() override { return {&w_qkv_}; }
  double projection_flops() const override;

 private:
  Parameter w_qkv_;
};

std::unique_ptr<Attention> build_gqa(const BuildArgs& args);

}  // namespace vpmoe::attention
