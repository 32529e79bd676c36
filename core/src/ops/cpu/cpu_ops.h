#pragma once
// The CPU implementations of vpmoe/ops.h: same names and signatures; ops/dispatch.cpp
// checks devices and forwards here.
#include "vpmoe/ops.h"

namespace vpmoe::ops::cpu {

void gemm(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, float alpha,
          float beta);
void gemm_grouped(const Tensor& a, const Tensor& b, Tensor& c, std::span<const std::int64_t> rows,
                  bool trans_b, float alpha, float beta);
void gemm_grouped_wgrad(const Tensor& a, const Tensor& b, Tensor& c,
                        std::span<const std::int64_t> rows, float alpha, float beta);
void add(const Tensor& a, const Tensor& b, Tensor& out);
void mul(const Tensor& a, const Tensor& b, Tensor& out);
void scale(const Tensor& a, float s, Tensor& out);
void axpy(float alpha, const Tensor& x, Tensor& y);
void fill(Tensor& t, float value);
void squared_relu(const Tensor& x, Tensor& y);
void squared_relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx);
void bias_add(Tensor& x, const Tensor& bias);
void bias_grad(const Tensor& dy, Tensor& dbias, bool accumulate);
void bias_add_grouped(Tensor& x, const Tensor& bias, std::span<const std::int64_t> rows);
void bias_grad_grouped(const Tensor& dy, std::span<const std::int64_t> rows, Tensor& dbias,
                       bool accumulate);
void rotary(Tensor& x, const Tensor& omega, bool inverse, std::int64_t position);
void rotary_omega_grad(const Tensor& y, const Tensor& dy, Tensor& domega);
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                       Tensor& out, Tensor& lse);
void attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                      std::int64_t q_offset, Tensor& out);
void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, const AttentionArgs& a, Tensor& dq,
                        Tensor& dk, Tensor& dv, Tensor& dsink);
void qkv_split(const Tensor& qkv, Tensor& q, Tensor& k, Tensor& v);
void qkv_merge(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& qkv);
void value_residual_forward(const Tensor& v, const Tensor& v1, const Tensor& theta, Tensor& out);
void value_residual_backward(const Tensor& dv, const Tensor& v, const Tensor& v1,
                             const Tensor& theta, Tensor& dv_raw, Tensor& dv1, Tensor& dtheta);
void rmsnorm_forward(const Tensor& x, const Tensor& w, float eps, Tensor& y, Tensor& rstd);
void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd,
                      Tensor& dx, Tensor& dw);
void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out);
void embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dtable);
void gather_rows(const Tensor& src, const Tensor& idx, const Tensor& scale, Tensor& out);
void combine_rows(const Tensor& src, const Tensor& idx, const Tensor& w, Tensor& out);
void combine_rows_weight_grad(const Tensor& dout, const Tensor& src, const Tensor& idx, Tensor& dw);
void cross_entropy_forward(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse);
void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                            const Tensor& row_scale, Tensor& dlogits);
void argmax_rows(const Tensor& x, std::int64_t cols, Tensor& out);
void sum(const Tensor& x, Tensor& out);
void max(const Tensor& x, Tensor& out);
void global_l2_norm(std::span<const Tensor> tensors, Tensor& out);
void cast(const Tensor& src, Tensor& dst);
void init_normal(Tensor& t, float mean, float std, std::uint64_t seed, std::uint64_t offset);
void init_uniform(Tensor& t, float lo, float hi, std::uint64_t seed, std::uint64_t offset);

}  // namespace vpmoe::ops::cpu
