#pragma once
// The tensor-core grouped weight gradient for bf16 rows into f32 (gemm_grouped_wgrad's
// automatic choice for that dtype pair; see gemm_grouped_wgrad.cu).
#include <cstdint>
#include <span>

#include "vpmoe/tensor.h"

namespace vpmoe::ops::cuda {

// c [G, K, N] f32 = alpha * a_g^T b_g + beta * c[g]; a [M, K], b [M, N] bf16 in row groups.
void grouped_wgrad_bf16_f32(const Tensor& a, const Tensor& b, Tensor& c,
                            std::span<const std::int64_t> rows, float alpha, float beta);

}  // namespace vpmoe::ops::cuda
