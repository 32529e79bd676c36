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
  // Drops the activations forward kept (the projection's too: drop_projection).
  void drop_saved() override;

  // Decode (kv_cache.h): by default a K/V cache of max_len tokens (k after bias, QK-norm and
  // rotation, v after the value-residual mix); TPA overrides it with its factor ring.
  std::unique_ptr<AttentionCache> make_cache(std::int64_t batch,
                                             std::int64_t max_len) const override;
  Tensor forward_cached(const Context& ctx, const Tensor& x, AttentionCache& cache,
                        ValueResidualState* vr) override;

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
  // Releases what project kept for project_backward (nothing by default).
  virtual void drop_projection() {}
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

  // Decode: the attention output [B, n, nh, d] of the new tokens' q (bias, QK-norm, rotation
  // done), k and v [B, n, ng, d] (bias only), which the cache takes in.
  virtual Tensor attend_cached(const Context& ctx, const Tensor& q, const Tensor& k,
                               const Tensor& v, AttentionCache& cache, ValueResidualState* vr);
  // The decode steps, each the training forward's ops: the QKV bias's part (0 q, 1 k, 2 v)
  // added to x [rows, heads, d]; QK-norm and rotation of k [B, T, ng, d] at ctx.position; the
  // value-residual mix (v itself for layer 1 or without it).
  void add_bias(Tensor& x, int part) const;
  Tensor finish_keys(const Context& ctx, const Tensor& k);
  Tensor mix_values(const Tensor& v, const Tensor& v1, const ValueResidualState* vr) const;
  // q [B, n, nh, d] against k, v [B, Tk, ng, d] from key index q_offset: the training kernel
  // when the keys are exactly the queries' (a prefill), else ops::attention_decode.
  Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, std::int64_t q_offset) const;
  bool mixes_values(const ValueResidualState* vr) const {
    return vr && o_.value_residual && o_.layer > 1;
  }
  bool sets_v1(const ValueResidualState* vr) const {
    return vr && o_.value_residual && o_.layer == 1;
  }

  AttentionOptions o_;
  Device device_;

 private:
  ops::AttentionArgs core_args() const;

  std::shared_ptr<Positional> positional_;
  Parameter qkv_bias_, q_norm_, k_norm_, w_o_, b_o_, offset_, theta_;
  Tensor zero_offset_;  // off-by-one softmax: a fixed offset of 0
  // Kept from forward for backward (one micro-batch at a time).
  Tensor x_, q_pre_, k_pre_, rstd_q_, rstd_k_, q_, k_, v_raw_, v_, out_, lse_;
};

}  // namespace vpmoe::attention
