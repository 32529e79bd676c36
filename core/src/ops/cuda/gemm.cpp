// gemm through cuBLASLt: 2-D, or strided-batched over dim 0 with a shared 2-D operand; many
// tiny batched products through gemm_small_batched.
#include <string>

#include "ops/cuda/blas.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/gemm_internal.h"

namespace vpmoe::ops::cuda {

// c = beta * c when the product is empty (K == 0); beta == 0 clears c, NaN included.
void scale_or_clear(Tensor& c, float beta) {
  if (beta == 0.f)
    fill(c, 0.f);
  else if (beta != 1.f)
    scale(c, beta, c);
}

void gemm(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, float alpha,
          float beta) {
  VPMOE_CHECK(a.device().is_cuda(), "gemm: expected CUDA tensors");
  VPMOE_CHECK((a.ndim() == 2 || a.ndim() == 3) && (b.ndim() == 2 || b.ndim() == 3),
              "gemm: a and b must be 2-D or 3-D: " + a.str() + ", " + b.str());
  VPMOE_CHECK(a.dtype() == b.dtype(), "gemm: a and b dtypes differ: " + a.str() + ", " + b.str());
  VPMOE_CHECK(c.dtype() == DType::f32 || c.dtype() == a.dtype(),
              "gemm: c must be f32 or the dtype of a: " + c.str());
  std::int64_t M = trans_a ? a.size(-1) : a.size(-2), K = trans_a ? a.size(-2) : a.size(-1);
  std::int64_t Kb = trans_b ? b.size(-1) : b.size(-2), N = trans_b ? b.size(-2) : b.size(-1);
  VPMOE_CHECK(K == Kb, "gemm: inner dims differ: " + a.str() + ", " + b.str());
  std::int64_t ba = a.ndim() == 3 ? a.size(0) : 0, bb = b.ndim() == 3 ? b.size(0) : 0;
  VPMOE_CHECK(!(ba && bb) || ba == bb, "gemm: batch sizes differ: " + a.str() + ", " + b.str());
  std::int64_t batch = ba ? ba : bb;
  if (a.ndim() == 2 && b.ndim() == 2)
    check_shape(c, {M, N}, "gemm: c");
  else
    check_shape(c, {batch, M, N}, "gemm: c");
  if (c.numel() == 0) return;
  if (K == 0) return scale_or_clear(c, beta);

  int dev = c.device().index;
  cuda_impl::DeviceGuard g(dev);
  cudaStream_t s = cuda_impl::stream(dev);
  if (batch == 0) {
    cuda_impl::gemm_rowmajor(dev, s, a.dtype(), c.dtype(), trans_a, trans_b, M, N, K, a.data(),
                             b.data(), c.data(), alpha, beta);
  } else if (ba && bb && small_batched_fits(batch, M, N, K)) {
    // Thousands of tiny products (TPA's factors): one kernel, not cuBLAS's 16 x 16 tiles.
    gemm_small_batched(a, b, c, batch, M, N, K, trans_a, trans_b, alpha, beta);
  } else if (ba && !bb && !trans_a) {
    // Batched a times a shared b: one GEMM over all batch * M rows.
    cuda_impl::gemm_rowmajor(dev, s, a.dtype(), c.dtype(), false, trans_b, batch * M, N, K,
                             a.data(), b.data(), c.data(), alpha, beta);
  } else {
    cuda_impl::gemm_rowmajor(dev, s, a.dtype(), c.dtype(), trans_a, trans_b, M, N, K, a.data(),
                             b.data(), c.data(), alpha, beta, batch, ba ? M * K : 0, bb ? K * N : 0,
                             M * N);
  }
}

}  // namespace vpmoe::ops::cuda
