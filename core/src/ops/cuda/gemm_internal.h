#pragma once
// Internals of the CUDA GEMMs shared with the grouped GEMMs and the GEMM benchmark.
#include <cstdint>
#include <span>

#include "vpmoe/tensor.h"

namespace vpmoe::ops::cuda {

// c = beta * c for an empty product; beta == 0 clears c (NaN included).
void scale_or_clear(Tensor& c, float beta);

// How gemm_grouped / gemm_grouped_wgrad run the groups.
enum class GroupedImpl {
  automatic,       // equal row counts: one strided-batched cuBLASLt call; else the measured
                   // default (wgrad bf16 -> f32: wgrad_kernel)
  lt_loop,         // one cuBLASLt matmul per non-empty group
  cublas_grouped,  // one cublasGemmGroupedBatchedEx call (falls back to lt_loop if refused)
  wgrad_kernel,    // wgrad, bf16 in / f32 out: vpmoe's tensor-core kernel (else as automatic)
};
// Process-wide choice (the benchmark compares them); automatic unless set.
void set_grouped_impl(GroupedImpl impl);
GroupedImpl grouped_impl();

// Many tiny per-item products (gemm_small_batched.cu): fits says whether it takes the shape;
// a, b, c are [batch, ...] with both operands batched.
bool small_batched_fits(std::int64_t batch, std::int64_t M, std::int64_t N, std::int64_t K);
void gemm_small_batched(const Tensor& a, const Tensor& b, Tensor& c, std::int64_t batch,
                        std::int64_t M, std::int64_t N, std::int64_t K, bool ta, bool tb,
                        float alpha, float beta);

}  // namespace vpmoe::ops::cuda
