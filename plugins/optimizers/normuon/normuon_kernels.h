#pragma once
// The element-wise and per-matrix passes of a NorMuon step (spec/optimizer.md §2-3) over a
// bucket of same-shape matrices [B, m, n], each with a CPU loop and a CUDA implementation.
// Norms accumulate in double; the CUDA passes split every matrix over many blocks and reduce
// the partial sums in a fixed order (deterministic).
#include <vector>

#include "vpmoe/tensor.h"

namespace vpmoe::normuon {

// Per-matrix sums of squares in the pieces frobenius_normalize reduces them in (one per matrix
// on the CPU, one per 4,096-element chunk on CUDA): [matrices, pieces] doubles.
Tensor sumsq_buffer(std::int64_t matrices, std::int64_t per_matrix, Device d);
// m <- mu m + (1 - mu) g, then u = (1 - mu) g + mu m (the Nesterov update) over a bucket:
// grads are its parameters' matrices where they lie ([count_e, m, n] f32 each, in bucket
// order, their counts summing to m's), so gathering costs no extra pass. u is f32 or, on
// CUDA, bf16 (the Polar Express work copy, unnormalised). With sumsq (a sumsq_buffer) it also
// sums u's squares (of the f32 values), saving a read of u. One launch per 32 parameters.
// Each grad is read times grad_scale (the clip's factor; the bits of scaling it first).
void nesterov_momentum(const std::vector<Tensor>& grads, Tensor& m, Tensor& u, float mu,
                       Tensor* sumsq = nullptr, float grad_scale = 1.f);
void nesterov_momentum(const Tensor& g, Tensor& m, Tensor& u, float mu, Tensor* sumsq = nullptr);
// The sums nesterov_momentum gives, from u [B, r, c] f32 (the separate passes).
Tensor sumsq_of(const Tensor& u);
// The Frobenius normalisation's factor of each matrix, 1 / (||u_b||_F * factor + eps), from
// its sums: [B] f32.
Tensor frobenius_scales(const Tensor& sumsq, float factor, float eps);
// out_b = in_b / (||in_b||_F * factor + eps) for each matrix of in [B, r, c] (f32); out is f32
// (may be in) or, on CUDA, bf16. sumsq: in's sums from nesterov_momentum (the same bits as
// summing here).
void frobenius_normalize(const Tensor& in, Tensor& out, float factor, float eps,
                         const Tensor* sumsq = nullptr);
// The polynomial of one Polar Express step, out = ca I + cb a + cc a2 for each [k, k] matrix
// (a and out [B, k, k] in one dtype, a2 = a a in f32), summed in f32 and rounded once, so the
// step X <- out X is one GEMM and the cancellation between its terms happens in f32. With
// scale ([B] f32, s_b), the step of s_b X: a, a2 are the Gram and its square of X, and out is
// s_b (ca I + cb s_b^2 a + cc s_b^4 a2), the coefficients formed per matrix in double.
void polynomial(const Tensor& a, const Tensor& a2, Tensor& out, float ca, float cb, float cc,
                const Tensor* scale = nullptr);
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
// One parameter's matrices in a bucket's update: its f32 weights [count_e, m, n], their bf16
// compute copy (undefined, or w itself, when there is none) and its decay factor.
struct UpdateTarget {
  Tensor w, compute;
  float decay;
};
// apply_update with u = scale_rows(o, f) formed in the pass, over a bucket: o [B, m, n] (f32
// or bf16), f one factor per row, targets in bucket order: the update never goes to memory.
// Bit for bit apply_update(w, scale_rows(o, f), ...) per target.
void apply_scaled_update(std::vector<UpdateTarget>& targets, const Tensor& o, const Tensor& f,
                         float step);
void apply_scaled_update(Tensor& w, const Tensor& o, const Tensor& f, float decay, float step,
                         Tensor& compute);

namespace cuda {
std::int64_t sumsq_pieces(std::int64_t per_matrix);
void nesterov_momentum(const std::vector<Tensor>& grads, Tensor& m, Tensor& u, float mu,
                       Tensor* sumsq, float grad_scale);
Tensor sumsq_of(const Tensor& u);
Tensor frobenius_scales(const Tensor& sumsq, float factor, float eps);
void frobenius_normalize(const Tensor& in, Tensor& out, float factor, float eps,
                         const Tensor* sumsq);
void polynomial(const Tensor& a, const Tensor& a2, Tensor& out, float ca, float cb, float cc,
                const Tensor* scale);
Tensor neuron_factors(const Tensor& o, Tensor& v, float beta2, float eps);
void scale_rows(const Tensor& o, const Tensor& f, Tensor& out);
void apply_update(Tensor& w, const Tensor& u, float decay, float step, Tensor& compute);
void apply_scaled_update(std::vector<UpdateTarget>& targets, const Tensor& o, const Tensor& f,
                         float step);
}  // namespace cuda

}  // namespace vpmoe::normuon
