// The LM head fused with the loss, built only from dispatched ops so one code path serves the
// CPU and CUDA: at most [chunk_rows, V] logits exist at once.
#include <algorithm>
#include <string>
#include <vector>

#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::ops {
namespace {

void check_args(const Tensor& h, const Tensor& w, const Tensor& targets, Tensor* dh, Tensor* dw,
                std::int64_t chunk_rows) {
  const char* op = "linear_cross_entropy";
  if (!h.defined() || !w.defined() || !targets.defined())
    throw Error(std::string(op) + ": h, w and targets must be defined");
  if (h.ndim() != 2 || w.ndim() != 2 || h.size(1) != w.size(1))
    throw Error(std::string(op) + ": need h [N, H] and w [V, H], got h " + h.str() + ", w " +
                w.str());
  if (h.dtype() != w.dtype())
    throw Error(std::string(op) + ": h and w must share a dtype, got " + h.str() + ", " + w.str());
  if (chunk_rows <= 0) throw Error(std::string(op) + ": chunk_rows must be positive");
  const std::int64_t N = h.size(0), H = h.size(1), V = w.size(0);
  const Device dev = h.device();
  check_same_device(h, w, op);
  check_same_device(h, targets, op);
  check_dtype(targets, DType::i32, "linear_cross_entropy: targets");
  if (targets.numel() != N)
    throw Error(std::string(op) + ": targets must be [N], got " + targets.str());
  if (dh) {
    check_same_device(h, *dh, op);
    check_shape(*dh, {N, H}, "linear_cross_entropy: dh");
  }
  if (dw) {
    check_same_device(h, *dw, op);
    check_dtype(*dw, DType::f32, "linear_cross_entropy: dw");
    check_shape(*dw, {V, H}, "linear_cross_entropy: dw");
  }
}

// m: the rows' weights. Each row's gradient scale is float(double(m[r]) * f), with
// f = grad_scale / (the sum of m) for a mean (0 when that sum is 0), else grad_scale.
CrossEntropyStats run_chunks(const Tensor& h, const Tensor& w, const Tensor& targets,
                             std::span<const float> m, double grad_scale, bool mean, Tensor* dh,
                             Tensor* dw, std::vector<float>* row_loss, std::int64_t chunk_rows) {
  const std::int64_t N = h.size(0), V = w.size(0);
  const Device dev = h.device();
  const bool backward = dh || dw;
  CrossEntropyStats st;
  for (float x : m) st.mask_sum += x;
  const double row_factor = !mean ? grad_scale : st.mask_sum > 0 ? grad_scale / st.mask_sum : 0.0;
  if (row_loss) row_loss->assign(static_cast<std::size_t>(N), 0.f);
  if (N == 0) return st;
  const std::int64_t B = std::min(chunk_rows, N);
  Tensor logits_buf = Tensor::empty({B, V}, h.dtype(), dev);
  Tensor loss_buf = Tensor::empty({B}, DType::f32, dev);
  Tensor lse_buf = Tensor::empty({B}, DType::f32, dev);

  for (std::int64_t r0 = 0; r0 < N; r0 += B) {
    const std::int64_t n = std::min(B, N - r0);
    Tensor h_blk = h.slice(r0, r0 + n), t_blk = targets.slice(r0, r0 + n);
    Tensor logits = logits_buf.slice(0, n), loss = loss_buf.slice(0, n), lse = lse_buf.slice(0, n);
    gemm(h_blk, w, logits, false, true);
    cross_entropy_forward(logits, t_blk, loss, lse);
    std::vector<float> l = loss.to_floats();
    for (std::int64_t i = 0; i < n; ++i) st.loss_sum += double(m[r0 + i]) * l[i];
    if (row_loss) std::copy(l.begin(), l.end(), row_loss->begin() + r0);
    if (!backward) continue;

    std::vector<float> rs(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) rs[i] = float(double(m[r0 + i]) * row_factor);
    Tensor row_scale = Tensor::from_floats(rs, {n}, DType::f32, dev);
    cross_entropy_backward(logits, t_blk, lse, row_scale, logits);  // in place: dlogits
    if (dh) {
      Tensor dh_blk = dh->slice(r0, r0 + n);
      gemm(logits, w, dh_blk);
    }
    if (dw) gemm(logits, h_blk, *dw, true, false, 1.0f, 1.0f);
  }
  return st;
}

}  // namespace

CrossEntropyStats linear_cross_entropy(const Tensor& h, const Tensor& w, const Tensor& targets,
                                       const Tensor& mask, float grad_scale, Tensor* dh, Tensor* dw,
                                       std::int64_t chunk_rows) {
  const char* op = "linear_cross_entropy";
  check_args(h, w, targets, dh, dw, chunk_rows);
  const std::int64_t N = h.size(0);
  // The mask lives on the host in double: the mean needs the total over ALL rows before any
  // backward block, and the per-block sums stay exact enough for a loss readout.
  std::vector<float> m(static_cast<std::size_t>(N), 1.0f);
  if (mask.defined()) {
    check_same_device(h, mask, op);
    check_dtype(mask, DType::f32, "linear_cross_entropy: mask");
    if (mask.numel() != N) throw Error(std::string(op) + ": mask must be [N], got " + mask.str());
    m = mask.to_floats();
  }
  return run_chunks(h, w, targets, m, double(grad_scale), true, dh, dw, nullptr, chunk_rows);
}

CrossEntropyStats linear_cross_entropy_weighted(const Tensor& h, const Tensor& w,
                                                const Tensor& targets,
                                                std::span<const float> weight, float grad_scale,
                                                Tensor* dh, Tensor* dw,
                                                std::vector<float>* row_loss,
                                                std::int64_t chunk_rows) {
  check_args(h, w, targets, dh, dw, chunk_rows);
  if (std::int64_t(weight.size()) != h.size(0))
    throw Error("linear_cross_entropy_weighted: " + std::to_string(weight.size()) +
                " weights for " + std::to_string(h.size(0)) + " rows (expected one per row)");
  return run_chunks(h, w, targets, weight, double(grad_scale), false, dh, dw, row_loss, chunk_rows);
}

}  // namespace vpmoe::ops
