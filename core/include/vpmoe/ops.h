#pragma once
// Kernels shared by many parts. Every op has a CPU (fp32 reference) and a CUDA implementation
// behind this one signature; the device of the tensors picks the implementation. All tensors
// of one call live on the same device. Shapes are row-major; "rows" is the product of all but
// the last dimension. CPU ops take f32 (and i32 ids); CUDA ops take f32 or bf16 as documented
// and accumulate in fp32.
#include <cstdint>
#include <span>
#include <vector>

#include "vpmoe/tensor.h"

namespace vpmoe::ops {

// ---- GEMM ------------------------------------------------------------------------------
// c = alpha * op(a) @ op(b) + beta * c, op(x) = x or x^T (of the last two dims).
// 2-D: a [M,K] (or [K,M] with trans_a), b [K,N] (or [N,K] with trans_b), c [M,N].
// 3-D: strided-batched over dim 0; a 2-D a or b is shared by every batch.
// CUDA: a and b both bf16 or both f32; c f32 or the dtype of a (fp32 accumulation, cuBLASLt).
void gemm(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a = false, bool trans_b = false,
          float alpha = 1.0f, float beta = 0.0f);

// Grouped GEMM over consecutive row groups (the MoE expert shape): rows
// [off_g, off_g + rows[g]) of a [M,K] and c [M,N] go with weight b[g] ([G,K,N], or [G,N,K]
// with trans_b): c_g = alpha * a_g @ op(b[g]) + beta * c_g. Groups may be empty.
void gemm_grouped(const Tensor& a, const Tensor& b, Tensor& c, std::span<const std::int64_t> rows,
                  bool trans_b = false, float alpha = 1.0f, float beta = 0.0f);
// Weight-gradient form: c[g] = alpha * a_g^T @ b_g + beta * c[g], with a [M,K], b [M,N] split
// into the same row groups and c [G,K,N]. An empty group scales c[g] by beta.
void gemm_grouped_wgrad(const Tensor& a, const Tensor& b, Tensor& c,
                        std::span<const std::int64_t> rows, float alpha = 1.0f, float beta = 0.0f);

// ---- elementwise (same shape and dtype; out may alias an input) -----------------------
void add(const Tensor& a, const Tensor& b, Tensor& out);
void mul(const Tensor& a, const Tensor& b, Tensor& out);
void scale(const Tensor& a, float s, Tensor& out);
void axpy(float alpha, const Tensor& x, Tensor& y);  // y += alpha * x (x, y may differ in dtype)
void fill(Tensor& t, float value);
// y = relu(x)^2 ; dx = dy * 2 relu(x)
void squared_relu(const Tensor& x, Tensor& y);
void squared_relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx);

// ---- bias -------------------------------------------------------------------------------
// x [rows, C] += bias [C] (bias f32 or the dtype of x).
void bias_add(Tensor& x, const Tensor& bias);
// dbias [C] (f32) = (accumulate ? dbias : 0) + sum over rows of dy [rows, C].
void bias_grad(const Tensor& dy, Tensor& dbias, bool accumulate);
// Per row group (consecutive rows, rows[g] each, as gemm_grouped): x [M, C] rows of group g
// += bias[g] ([G, C], f32 or the dtype of x); dbias [G, C] f32 = (accumulate ? dbias : 0) +
// the sum of group g's rows of dy (in row order: deterministic).
void bias_add_grouped(Tensor& x, const Tensor& bias, std::span<const std::int64_t> rows);
void bias_grad_grouped(const Tensor& dy, std::span<const std::int64_t> rows, Tensor& dbias,
                       bool accumulate);

// ---- RMSNorm over the last dim: y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) ----------
// x, y [rows, C] (f32 or bf16), w [C] f32, rstd [rows] f32 (saved for backward).
void rmsnorm_forward(const Tensor& x, const Tensor& w, float eps, Tensor& y, Tensor& rstd);
// dx [rows, C] (dtype of x); dw [C] f32 accumulated (+=).
void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd,
                      Tensor& dx, Tensor& dw);

// ---- embedding ---------------------------------------------------------------------------
// ids [N] i32 (each in [0, V)), table [V, C], out [N, C] (dtype of table or f32).
void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out);
// dtable [V, C] f32 += scatter of dout [N, C] rows by ids (deterministic order).
void embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dtable);

// ---- row gather / combine (the MoE token permutation, spec/moe.md §3) ---------------------
// out[r] = scale[r] * src[idx[r]]: src [V, C], idx [M] i32, scale [M] f32 or undefined (1),
// out [M, C]. CPU: f32; CUDA: f32 or bf16, src and out in any pairing.
void gather_rows(const Tensor& src, const Tensor& idx, const Tensor& scale, Tensor& out);
// out[t] = sum over slots i (in order, fp32) of w[t, i] * src[idx[t, i]]: src [V, C], idx
// [N, k] i32, w [N, k] f32 or undefined (1), out [N, C]. Deterministic: no atomics.
void combine_rows(const Tensor& src, const Tensor& idx, const Tensor& w, Tensor& out);
// Its weight gradient: dw [N, k] f32 = dot(dout[t], src[idx[t, i]]) in fp32.
void combine_rows_weight_grad(const Tensor& dout, const Tensor& src, const Tensor& idx, Tensor& dw);

// Rotary position rotation ("rotate half"): x [B, T, H, D] (f32 or bf16) is rotated in place,
// pairing dim m with m + D/2, by the angle t * omega[m] at position t = position + row index
// along T (omega [D/2] shared by the heads, or [H, D/2], f32; position: the absolute position
// of row 0, for decode). inverse rotates by minus the angle: the backward for x.
void rotary(Tensor& x, const Tensor& omega, bool inverse = false, std::int64_t position = 0);
// Frequency gradient: domega[m] += sum over b, t (and h when shared) of
// t * (dy[m + D/2] * y[m] - dy[m] * y[m + D/2]), y the rotated output and dy its gradient.
void rotary_omega_grad(const Tensor& y, const Tensor& dy, Tensor& domega);

// ---- core attention (spec/attention.md §2, §5, §6) -----------------------------------------
// q [B, T, nh, d], k and v [B, T, ng, d] (query head h reads KV group h / (nh / ng)).
// s_ij = scale * q_i . k_j - slope[h] * (i - j), over the keys allowed for query i: j <= i,
// and i - j < window when window > 0. p_ij = exp(s_ij) / (exp(sink[h]) + sum_j exp(s_ij)) with
// the per-head softmax offset sink (undefined tensor: no offset). slopes undefined: no bias.
// out [B, T, nh, d]; lse [B, nh, T] f32: log of the denominator, kept for the backward.
struct AttentionArgs {
  std::int64_t window = 0;  // 0: plain causal
  float scale = 1.f;
  Tensor slopes;  // [nh] f32 (ALiBi) or undefined
  Tensor sink;    // [nh] f32 (learnable softmax offset) or undefined
};
void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                       Tensor& out, Tensor& lse);
// Gradients of q, k, v (written) and of the sink (accumulated into dsink [nh] when defined).
void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, const AttentionArgs& a, Tensor& dq,
                        Tensor& dk, Tensor& dv, Tensor& dsink);

// Decode form: q [B, n, nh, d] are the queries of key indices q_offset .. q_offset + n - 1 of
// k and v [B, Tk, ng, d] (Tk >= q_offset + n; later keys are never read). Query i sees keys
// j <= q_offset + i (and q_offset + i - j < window), scored as attention_forward does, with the
// ALiBi distance q_offset + i - j. With n = Tk and q_offset 0 it is attention_forward; on the
// CPU its rows are attention_forward's bit for bit. out [B, n, nh, d]; no lse.
void attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                      std::int64_t q_offset, Tensor& out);

// ---- fused QKV layout (spec/attention.md §4) ---------------------------------------------
// Megatron's fused layout: per KV group, its nh/ng query heads, then its key, then its value.
// qkv [rows, ng * (nh/ng + 2) * d] <-> q [rows, nh, d], k and v [rows, ng, d] (one dtype).
void qkv_split(const Tensor& qkv, Tensor& q, Tensor& k, Tensor& v);
void qkv_merge(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& qkv);

// ---- value residual (spec/attention.md §7) ---------------------------------------------------
// out = lambda v + (1 - lambda) v1 with lambda = sigmoid(theta[0]) read where theta lives
// (theta a one-element f32 tensor), so no host round trip. v, v1, out: one shape and dtype.
void value_residual_forward(const Tensor& v, const Tensor& v1, const Tensor& theta, Tensor& out);
// dv_raw = lambda dv; dv1 (f32) += (1 - lambda) dv; dtheta[0] += lambda (1 - lambda) *
// sum((v - v1) * dv), with v the raw (unmixed) values. dv_raw may alias dv.
void value_residual_backward(const Tensor& dv, const Tensor& v, const Tensor& v1,
                             const Tensor& theta, Tensor& dv_raw, Tensor& dv1, Tensor& dtheta);

// ---- softmax cross-entropy over a wide vocabulary ----------------------------------------
// logits [N, V] (f32 or bf16), targets [N] i32. Streams each row in vocabulary chunks (online
// max / sum): no probabilities are stored. loss [N] f32 = lse - logit[target]; lse [N] f32.
void cross_entropy_forward(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse);
// dlogits = (softmax(logits) - onehot(target)) * row_scale[row]; dlogits may alias logits.
// row_scale [N] f32 (e.g. mask / mask_count * grad_scale); a zero scale writes zeros.
void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                            const Tensor& row_scale, Tensor& dlogits);

// The LM head fused with the loss: logits = h @ w^T for chunk_rows rows at a time, so at most
// [chunk_rows, V] logits exist at once. Returns the loss-masked mean over rows (mask [N] f32,
// or undefined for all ones). With dh (and/or dw) given, writes dh [N, H] and accumulates
// dw [V, H] (f32) for the loss scaled by grad_scale. h [N, H], w [V, H] same dtype.
struct CrossEntropyStats {
  double loss_sum = 0;  // sum over rows of mask * loss
  double mask_sum = 0;  // sum of mask
  double mean() const { return mask_sum > 0 ? loss_sum / mask_sum : 0.0; }
};
CrossEntropyStats linear_cross_entropy(const Tensor& h, const Tensor& w, const Tensor& targets,
                                       const Tensor& mask, float grad_scale, Tensor* dh, Tensor* dw,
                                       std::int64_t chunk_rows = 1024);
// The same with per-row weights (host, [N]) and no mean: dh (and/or dw) get the gradient of
// grad_scale x sum_r weight[r] * loss_r, each row's scale rounded once from
// double(weight[r]) * grad_scale. Returns loss_sum = sum weight * loss and mask_sum = sum weight.
// row_loss, when given, receives every row's loss (N floats, whatever its weight): the loss
// plugins' objectives (vpmoe/loss.h) and the per-span metrics come from one fused pass.
CrossEntropyStats linear_cross_entropy_weighted(const Tensor& h, const Tensor& w,
                                                const Tensor& targets,
                                                std::span<const float> weight, float grad_scale,
                                                Tensor* dh, Tensor* dw,
                                                std::vector<float>* row_loss = nullptr,
                                                std::int64_t chunk_rows = 1024);

// ---- row argmax (greedy decoding, scoring) -------------------------------------------------
// out[r] (i32) = the index of the largest of the first `cols` entries of row r of x [N, V]
// (0 < cols <= V): the first such index on ties; NaN never wins (a row of NaN gives 0).
// CPU: f32; CUDA: f32 or bf16.
void argmax_rows(const Tensor& x, std::int64_t cols, Tensor& out);

// ---- reductions (out: a one-element f32 tensor on the same device) -----------------------
void sum(const Tensor& x, Tensor& out);
void max(const Tensor& x, Tensor& out);
// sqrt(sum of squares over every element of every tensor); fp32 (double on the CPU).
void global_l2_norm(std::span<const Tensor> tensors, Tensor& out);

// ---- casts -------------------------------------------------------------------------------
// f32 <-> bf16 (round to nearest even), or a plain copy for equal dtypes.
void cast(const Tensor& src, Tensor& dst);
// src in dtype: src itself when it already has it, else a new cast copy on src's device.
Tensor cast_to(const Tensor& src, DType dtype);

// ---- seeded random init ------------------------------------------------------------------
// Element i gets a value that depends only on (seed, offset + i): the same bits on the CPU and
// on CUDA, whatever the launch shape. Counter-based (Philox-4x32-10); normals by Box-Muller.
void init_normal(Tensor& t, float mean, float std, std::uint64_t seed, std::uint64_t offset = 0);
void init_uniform(Tensor& t, float lo, float hi, std::uint64_t seed, std::uint64_t offset = 0);

}  // namespace vpmoe::ops
