#pragma once
// One attention layer around a pluggable projection (spec/attention.md §3, §6, §7): QKV bias in
// Megatron's fused layout, QK RMSNorm, multiplicative or additive positional encoding, value
// residual mixing with layer 1's values, fused core attention with the per-head softmax
// offset, output projection. TPA and GQA differ only in how x becomes q, k and v.
#include <memory>
#include <vector>

#include "attention_options.h"
#include "vpmoe/attention.h"
#include "vpmoe/ops.h"

namespace vpmoe::attention {

class AttentionLayer : public Attention {
 public:
  AttentionLayer(AttentionOptions o, Device device, std::shared_ptr<Positional> positional);

  std::string spec_name() const override { return o_.spec_name; }
  // The projection's, then the shared ones, then the positional encoding's.
  std::vector<Parameter*> parameters() override;
  // spec/attention.md's forward FLOPs per token, keys per query counted through the window.
  double flops_per_token(std::int64_t seq_len) const override;

  Tensor forward(const Context& ctx, const Tensor& x, ValueResidualState* vr) override;
  Tensor backward(const Context& ctx, const Tensor& dy, ValueResidualState* vr) override;

  const AttentionOptions& options() const { return o_; }
  const Positional* positional() const { return positional_.get(); }

 protected:
  // x [N, hidden] -> q [N, nh, d], k and v [N, ng, d] (written, before the bias); keeps what
  // project_backward needs.
  virtual void project(const Tensor& x, Tensor& q, Tensor& k, Tensor& v) = 0;
  // Gradients of the projection's weights (accumulated) and dx [N, hidden] (returned).
  virtual Tensor project_backward(const Tensor& x, const Tensor& dq, const Tensor& dk,
                                  const Tensor& dv) = 0;
  virtual std::vector<Parameter*> projection_parameters() = 0;
  virtual double projection_flops() const = 0;  // per token, forward

  // A weight initialised N(0, std) from the run seed and its name (same values on any device).
  Parameter make_weight(const std::string& name, Shape shape, double std) const;
  DType act_dtype() const { return o_.bf16 ? DType::bf16 : DType::f32; }
  Tensor act(Shape s) const { return Tensor::empty(std::move(s), act_dtype(), device_); }
  // out = x @ w^T (w's compute copy): the forward of a bias-free linear map.
  void linear(const Tensor& x, const Parameter& w, Tensor& out) const;
  // w.grad += dout^T @ x, and dx (+)= dout @ w.
  void linear_backward(const Tensor& x, const Tensor& dout, Parameter& w, Tensor& dx,
                       bool accumulate_dx) const;

  AttentionOptions o_;
  Device device_;

 private:
  ops::AttentionArgs core_args() const;
  bool mixes_values(const ValueResidualState* vr) const {
    return vr && o_.value_residual && o_.layer > 1;
  }

  std::shared_ptr<Positional> positional_;
  Parameter qkv_bias_, q_norm_, k_norm_, w_o_, b_o_, offset_, theta_;
  Tensor zero_offset_;  // off-by-one softmax: a fixed offset of 0
  // Kept from forward for backward (one micro-batch at a time).
  Tensor x_, q_pre_, k_pre_, rstd_q_, rstd_k_, q_, k_, v_raw_, v_, out_, lse_;
};

}  // namespace vpmoe::attention
