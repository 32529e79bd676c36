// Picks the CPU or CUDA implementation of each op from the device of its tensors.
#include <string>

#include "ops/cpu/cpu_ops.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"
#include "vpmoe/version.h"
#if VPMOE_HAS_CUDA
#include "ops/cuda/cuda_ops.h"
#endif

namespace vpmoe::ops {
namespace {

// All defined tensors of one call must share a device; returns it.
Device common_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t || !t->defined()) continue;
    if (!first)
      first = t;
    else if (!(t->device() == first->device()))
      throw Error(std::string(op) + ": tensors on different devices: " + first->str() + " and " +
                  t->str());
  }
  if (!first) throw Error(std::string(op) + ": no tensor given");
  return first->device();
}

}  // namespace

#if VPMOE_HAS_CUDA
#define VPMOE_DISPATCH(op, dev, ...) (dev.is_cuda() ? cuda::op(__VA_ARGS__) : cpu::op(__VA_ARGS__))
#else
#define VPMOE_DISPATCH(op, dev, ...) \
  (dev.is_cuda() ? throw Error(#op ": this build has no CUDA parts") : cpu::op(__VA_ARGS__))
#endif

void gemm(const Tensor& a, const Tensor& b, Tensor& c, bool ta, bool tb, float alpha, float beta) {
  Device d = common_device("gemm", {&a, &b, &c});
  VPMOE_DISPATCH(gemm, d, a, b, c, ta, tb, alpha, beta);
}
void gemm_grouped(const Tensor& a, const Tensor& b, Tensor& c, std::span<const std::int64_t> rows,
                  bool tb, float alpha, float beta) {
  Device d = common_device("gemm_grouped", {&a, &b, &c});
  VPMOE_DISPATCH(gemm_grouped, d, a, b, c, rows, tb, alpha, beta);
}
void gemm_grouped_wgrad(const Tensor& a, const Tensor& b, Tensor& c,
                        std::span<const std::int64_t> rows, float alpha, float beta) {
  Device d = common_device("gemm_grouped_wgrad", {&a, &b, &c});
  VPMOE_DISPATCH(gemm_grouped_wgrad, d, a, b, c, rows, alpha, beta);
}
void add(const Tensor& a, const Tensor& b, Tensor& out) {
  Device d = common_device("add", {&a, &b, &out});
  VPMOE_DISPATCH(add, d, a, b, out);
}
void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  Device d = common_device("mul", {&a, &b, &out});
  VPMOE_DISPATCH(mul, d, a, b, out);
}
void scale(const Tensor& a, float s, Tensor& out) {
  Device d = common_device("scale", {&a, &out});
  VPMOE_DISPATCH(scale, d, a, s, out);
}
void axpy(float alpha, const Tensor& x, Tensor& y) {
  Device d = common_device("axpy", {&x, &y});
  VPMOE_DISPATCH(axpy, d, alpha, x, y);
}
void fill(Tensor& t, float value) {
  Device d = common_device("fill", {&t});
  VPMOE_DISPATCH(fill, d, t, value);
}
void squared_relu(const Tensor& x, Tensor& y) {
  Device d = common_device("squared_relu", {&x, &y});
  VPMOE_DISPATCH(squared_relu, d, x, y);
}
void squared_relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  Device d = common_device("squared_relu_backward", {&x, &dy, &dx});
  VPMOE_DISPATCH(squared_relu_backward, d, x, dy, dx);
}
void bias_add(Tensor& x, const Tensor& bias) {
  Device d = common_device("bias_add", {&x, &bias});
  VPMOE_DISPATCH(bias_add, d, x, bias);
}
void bias_grad(const Tensor& dy, Tensor& dbias, bool accumulate) {
  Device d = common_device("bias_grad", {&dy, &dbias});
  VPMOE_DISPATCH(bias_grad, d, dy, dbias, accumulate);
}
void rotary(Tensor& x, const Tensor& omega, bool inverse, std::int64_t position) {
  Device d = common_device("rotary", {&x, &omega});
  VPMOE_DISPATCH(rotary, d, x, omega, inverse, position);
}
void rotary_omega_grad(const Tensor& y, const Tensor& dy, Tensor& domega) {
  Device d = common_device("rotary_omega_grad", {&y, &dy, &domega});
  VPMOE_DISPATCH(rotary_omega_grad, d, y, dy, domega);
}
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                       Tensor& out, Tensor& lse) {
  Device d = common_device("attention_forward", {&q, &k, &v, &a.slopes, &a.sink, &out, &lse});
  VPMOE_DISPATCH(attention_forward, d, q, k, v, a, out, lse);
}
void attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                      std::int64_t q_offset, Tensor& out) {
  Device d = common_device("attention_decode", {&q, &k, &v, &a.slopes, &a.sink, &out});
  VPMOE_DISPATCH(attention_decode, d, q, k, v, a, q_offset, out);
}
void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, const AttentionArgs& a, Tensor& dq,
                        Tensor& dk, Tensor& dv, Tensor& dsink) {
  Device d = common_device("attention_backward", {&dout, &q, &k, &v, &out, &lse, &a.slopes, &a.sink,
                                                  &dq, &dk, &dv, &dsink});
  VPMOE_DISPATCH(attention_backward, d, dout, q, k, v, out, lse, a, dq, dk, dv, dsink);
}
void qkv_split(const Tensor& qkv, Tensor& q, Tensor& k, Tensor& v) {
  Device d = common_device("qkv_split", {&qkv, &q, &k, &v});
  VPMOE_DISPATCH(qkv_split, d, qkv, q, k, v);
}
void qkv_merge(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& qkv) {
  Device d = common_device("qkv_merge", {&qkv, &q, &k, &v});
  VPMOE_DISPATCH(qkv_merge, d, q, k, v, qkv);
}
void value_residual_forward(const Tensor& v, const Tensor& v1, const Tensor& theta, Tensor& out) {
  Device d = common_device("value_residual_forward", {&v, &v1, &theta, &out});
  VPMOE_DISPATCH(value_residual_forward, d, v, v1, theta, out);
}
void value_residual_backward(const Tensor& dv, const Tensor& v, const Tensor& v1,
                             const Tensor& theta, Tensor& dv_raw, Tensor& dv1, Tensor& dtheta) {
  Device d =
      common_device("value_residual_backward", {&dv, &v, &v1, &theta, &dv_raw, &dv1, &dtheta});
  VPMOE_DISPATCH(value_residual_backward, d, dv, v, v1, theta, dv_raw, dv1, dtheta);
}
void rmsnorm_forward(const Tensor& x, const Tensor& w, float eps, Tensor& y, Tensor& rstd) {
  Device d = common_device("rmsnorm_forward", {&x, &w, &y, &rstd});
  VPMOE_DISPATCH(rmsnorm_forward, d, x, w, eps, y, rstd);
}
void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd,
                      Tensor& dx, Tensor& dw) {
  Device d = common_device("rmsnorm_backward", {&dy, &x, &w, &rstd, &dx, &dw});
  VPMOE_DISPATCH(rmsnorm_backward, d, dy, x, w, rstd, dx, dw);
}
void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out) {
  Device d = common_device("embedding_forward", {&ids, &table, &out});
  VPMOE_DISPATCH(embedding_forward, d, ids, table, out);
}
void embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dtable) {
  Device d = common_device("embedding_backward", {&ids, &dout, &dtable});
  VPMOE_DISPATCH(embedding_backward, d, ids, dout, dtable);
}
void bias_add_grouped(Tensor& x, const Tensor& bias, std::span<const std::int64_t> rows) {
  Device d = common_device("bias_add_grouped", {&x, &bias});
  VPMOE_DISPATCH(bias_add_grouped, d, x, bias, rows);
}
void bias_grad_grouped(const Tensor& dy, std::span<const std::int64_t> rows, Tensor& dbias,
                       bool accumulate) {
  Device d = common_device("bias_grad_grouped", {&dy, &dbias});
  VPMOE_DISPATCH(bias_grad_grouped, d, dy, rows, dbias, accumulate);
}
void gather_rows(const Tensor& src, const Tensor& idx, const Tensor& scale, Tensor& out) {
  Device d = common_device("gather_rows", {&src, &idx, &scale, &out});
  VPMOE_DISPATCH(gather_rows, d, src, idx, scale, out);
}
void combine_rows(const Tensor& src, const Tensor& idx, const Tensor& w, Tensor& out) {
  Device d = common_device("combine_rows", {&src, &idx, &w, &out});
  VPMOE_DISPATCH(combine_rows, d, src, idx, w, out);
}
void combine_rows_weight_grad(const Tensor& dout, const Tensor& src, const Tensor& idx,
                              Tensor& dw) {
  Device d = common_device("combine_rows_weight_grad", {&dout, &src, &idx, &dw});
  VPMOE_DISPATCH(combine_rows_weight_grad, d, dout, src, idx, dw);
}
void cross_entropy_forward(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse) {
  Device d = common_device("cross_entropy_forward", {&logits, &targets, &loss, &lse});
  VPMOE_DISPATCH(cross_entropy_forward, d, logits, targets, loss, lse);
}
void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                            const Tensor& row_scale, Tensor& dlogits) {
  Device d =
      common_device("cross_entropy_backward", {&logits, &targets, &lse, &row_scale, &dlogits});
  VPMOE_DISPATCH(cross_entropy_backward, d, logits, targets, lse, row_scale, dlogits);
}
void argmax_rows(const Tensor& x, std::int64_t cols, Tensor& out) {
  Device d = common_device("argmax_rows", {&x, &out});
  VPMOE_DISPATCH(argmax_rows, d, x, cols, out);
}
void sum(const Tensor& x, Tensor& out) {
  Device d = common_device("sum", {&x, &out});
  VPMOE_DISPATCH(sum, d, x, out);
}
void max(const Tensor& x, Tensor& out) {
  Device d = common_device("max", {&x, &out});
  VPMOE_DISPATCH(max, d, x, out);
}
void global_l2_norm(std::span<const Tensor> tensors, Tensor& out) {
  Device d = common_device("global_l2_norm", {&out});
  for (const Tensor& t : tensors) common_device("global_l2_norm", {&t, &out});
  VPMOE_DISPATCH(global_l2_norm, d, tensors, out);
}
void cast(const Tensor& src, Tensor& dst) {
  Device d = common_device("cast", {&src, &dst});
  VPMOE_DISPATCH(cast, d, src, dst);
}
Tensor cast_to(const Tensor& src, DType dtype) {
  if (src.dtype() == dtype) return src;
  Tensor dst = Tensor::empty(src.shape(), dtype, src.device());
  cast(src, dst);
  return dst;
}
void init_normal(Tensor& t, float mean, float std, std::uint64_t seed, std::uint64_t offset) {
  Device d = common_device("init_normal", {&t});
  VPMOE_DISPATCH(init_normal, d, t, mean, std, seed, offset);
}
void init_uniform(Tensor& t, float lo, float hi, std::uint64_t seed, std::uint64_t offset) {
  Device d = common_device("init_uniform", {&t});
  VPMOE_DISPATCH(init_uniform, d, t, lo, hi, seed, offset);
}

}  // namespace vpmoe::ops
