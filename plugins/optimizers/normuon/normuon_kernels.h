#pragma once
// The element-wise and per-matrix passes of a NorMuon step (spec/optimizer.md §2-3) over a
// bucket of same-shape matrices [B, m, n], each with a CPU loop and a CUDA implementation.
// Norms accumulate in double; the CUDA passes split every matrix over many blocks and reduce
// the partial sums in a fixed order (deterministic).
#include "vpmoe/tensor.h"

namespace vpmoe::normuon {

// Per-matrix sums of squares in the pieces frobenius_normalize reduces them in (one per matrix
// on the CPU, one per 16,384-element chunk on CUDA): [matrices, pieces] doubles.
Tensor sumsq_buffer(std::int64_t matrices, std::int64_t per_matrix, Device d);
// m <- mu m + (1 - mu) g, then u = (1 - mu) g + mu m (the Nesterov update; u may be g). Reads
// the parameter's grad where it lies, so gathering a bucket costs no extra pass. With sumsq
// (rows of a sumsq_buffer, one per matrix of u) it also sums u's squares, saving
// frobenius_normalize a read of u.
void nesterov_momentum(const Tensor& g, Tensor& m, Tensor& u, float mu, Tensor* sumsq = nullptr);
// out_b = in_b / (||in_b||_F * factor + eps) for each matrix of in [B, r, c] (f32); out is f32
// (may be in) or, on CUDA, bf16 (the Polar Express work copy). sumsq: in's sums from
// nesterov_momentum (the same bits as summing here).
void frobenius_normalize(const Tensor& in, Tensor& out, float factor, float eps,
                         const Tensor* sumsq = nullptr);
// The polynomial of one Polar Express step, out = ca I + cb a + cc a2 for each [k, k] matrix
// (a and out [B, k, k] in one dtype, a2 = a a in f32), summed in f32 and rounded once, so the
// step X <- out X is one GEMM and the cancellation between its terms happens in f32.
void polynomial(const Tensor& a, const Tensor& a2, Tensor& out, float ca, float cb, float cc);
// Neuron-wise normalisation of o [B, m, n] (f32, or bf16 on CUDA) with the row second moments
// v [B, m]: r_i = mean_j o_ij^2; v_i <- beta2 v_i + (1 - beta2) r_i; s_ij = o_ij / sqrt(v_i +
// eps); each matrix rescaled to o's norm: s *= ||o|| / max(||s||, eps). neuron_factors updates
// v and returns each row's whole factor f [B m] (f32), so s_ij = o_ij f_i;
Tensor neuron_factors(const Tensor& o, Tensor& v, float beta2, float eps);
// out = o scaled by rows (f32, may be o when o is f32);
void scale_rows(const Tensor& o, const Tensor& f, Tensor& out);
// both: out = s.
void neuron_normalize(const Tensor& o, Tensor& out, Tensor& v, float beta2, float eps);
// w <- w * decay - step * u (f32, same shape); then compute (bf16 weights, when defined and not
// w itself) is refreshed from w in the same pass.
void apply_update(Tensor& w, const Tensor& u, float decay, float step, Tensor& compute);
// The same with u = scale_rows(o, f) formed in the pass (o f32 or bf16, f one factor per row of
// w): the update never goes to memory. Bit for bit apply_update(w, scale_rows(o, f), ...).
void apply_scaled_update(Tensor& w, const Tensor& o, const Tensor& f, float decay, float step,
                         Tensor& compute);

namespace cuda {
std::int64_t sumsq_pieces(std::int64_t per_matrix);
void nesterov_momentum(const Tensor& g, Tensor& m, Tensor& u, float mu, Tensor* sumsq);
void frobenius_normalize(const Tensor& in, Tensor& out, float factor, float eps,
                         const Tensor* sumsq);
void polynomial(const Tensor& a, const Tensor& a2, Tensor& out, float ca, float cb, float cc);
Tensor neuron_factors(const Tensor& o, Tensor& v, float beta2, float eps);
void scale_rows(const Tensor& o, const Tensor& f, Tensor& out);
void apply_update(Tensor& w, const Tensor& u, float decay, float step, Tensor& compute);
void apply_scaled_update(Tensor& w, const Tensor& o, const Tensor& f, float decay, float step,
                         Tensor& compute);
}  // namespace cuda

}  // namespace vpmoe::normuon
