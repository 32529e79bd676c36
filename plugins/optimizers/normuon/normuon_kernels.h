#pragma once
// The element-wise and per-matrix passes of a NorMuon step (spec/optimizer.md §2) over a
// bucket of same-shape matrices, each with a CPU loop and a CUDA kernel (f32 throughout).
#include "vpmoe/tensor.h"

namespace vpmoe::normuon {

// m <- mu m + (1 - mu) g, then g <- (1 - mu) g + mu m (the Nesterov update, in g's buffer).
void nesterov_momentum(Tensor& g, Tensor& m, float mu);
// Each matrix x_b of x [B, r, c] <- x_b / (||x_b||_F * factor + eps).
void frobenius_normalize(Tensor& x, float factor, float eps);
// Neuron-wise normalisation of o [B, m, n] with the row second moments v [B, m]:
// r_i = mean_j o_ij^2; v_i <- beta2 v_i + (1 - beta2) r_i; s_ij = o_ij / sqrt(v_i + eps); then
// each matrix is rescaled to o's Frobenius norm: s *= ||o||_F / max(||s||_F, eps).
void neuron_normalize(Tensor& o, Tensor& v, float beta2, float eps);

namespace cuda {
void nesterov_momentum(Tensor& g, Tensor& m, float mu);
void frobenius_normalize(Tensor& x, float factor, float eps);
void neuron_normalize(Tensor& o, Tensor& v, float beta2, float eps);
}  // namespace cuda

}  // namespace vpmoe::normuon
