#pragma once
// The routing of spec/moe.md §2 and §4 as CUDA kernels on the logits, so a CUDA router never
// copies [N, E] to the host. Selection compares the same double values as routing_math
// (sigma rounded to f32, plus the bias in double), so on equal logits the choices, counts and
// combine weights equal the host path's; the aux-loss sums run in f32/double on the device.
#include <cstdint>

#include "routing_math.h"
#include "vpmoe/tensor.h"

namespace vpmoe::router::cuda {

// What the forward keeps for the backward (all on the logits' device).
struct RouteState {
  Tensor sigma;       // [N, E] f32
  Tensor experts;     // [N, k] i32
  Tensor weights;     // [N, k] f32
  Tensor counts;      // [E] i32: biased top-k selections
  Tensor seq_counts;  // [seqs, E] i32: plain top-k selections per sequence (aux only)
  Tensor row_sum;     // [N] f32: sum of sigma over all experts (aux only)
  Tensor aux_loss;    // [1] f32 (aux only)
  std::int64_t seqs = 1;
  bool aux = false;
};

// logits [N, E] f32; bias [E] f32 or undefined; seqs sequences of N / seqs tokens each; aux:
// also the aux loss with coefficient coeff.
RouteState route_forward(const RoutingShape& s, const Tensor& logits, const Tensor& bias,
                         std::int64_t seqs, bool aux, double coeff);

// dweights [N, k] f32 -> dlogits [N, E] f32 = d/dz of (sum dweights * weights) plus
// aux_grad_scale times d/dz of the aux loss.
Tensor route_backward(const RoutingShape& s, const RouteState& st, const Tensor& dweights,
                      double coeff, double aux_grad_scale);

}  // namespace vpmoe::router::cuda
