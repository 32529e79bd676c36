#pragma once
// Polar Express (spec/optimizer.md §3): the coefficient table (built in for safety factor 2e-2,
// or read from polar_express_coeffs_path) and the iteration on a batch of same-shape matrices
// through the batched GEMMs of vpmoe::ops, so the CPU (f32) and CUDA (bf16, fp32 accumulation)
// run the same sequence.
#include <array>
#include <string>
#include <vector>

#include "vpmoe/tensor.h"

namespace vpmoe::normuon {

using Coeffs = std::vector<std::array<double, 3>>;

// The 5-step table for safety factor 2e-2.
const Coeffs& default_coeffs();
// A JSON file holding a non-empty list of [a, b, c] number triples; throws vpmoe::Error naming
// the path (and the index of a bad entry).
Coeffs load_coeffs(const std::string& path);

// x [B, m, n] (f32 on the CPU; f32 or bf16 on CUDA), already scaled by frobenius_normalize
// or with that factor per matrix in scale ([B] f32: the iteration starts from scale_b x_b), is
// replaced by its Polar Express iterate. Each step is X <- (a I + b A + c A^2) X with
// A = X X^T: three GEMMs, the polynomial summed in f32 (A^2 from an f32-output GEMM) and
// rounded once to the work dtype.
// Tall matrices (m > n) iterate on the n x n Gram X^T X and multiply on the right, which is
// the wide iteration on X^T, transposed back.
void polar_express(Tensor& x, const Coeffs& coeffs, const Tensor* scale = nullptr);

}  // namespace vpmoe::normuon
