#pragma once
// Global-norm gradient clipping (spec/training.md §2.4): the L2 norm over every parameter's
// main grad, each parameter counted once; above max_norm, every grad is scaled by
// max_norm / (norm + 1e-6) (Megatron's coefficient). A non-finite norm leaves the grads as
// they are: the caller skips the step. The factor can instead be left to the optimizers
// (OptimizerStep::grad_scale), which saves a pass over every grad.
#include <vector>

#include "vpmoe/comm.h"
#include "vpmoe/parameter.h"

namespace vpmoe::host::train {

struct ClipResult {
  double norm = 0;  // before clipping
  bool finite = true;
  bool clipped = false;
  float scale = 1.f;  // the factor (1 when not clipped)
};

// max_norm <= 0: measure only. scale_grads = false: the factor is returned, the grads left.
ClipResult clip_grad_norm(const std::vector<Parameter*>& params, double max_norm,
                          bool scale_grads = true);
// With expert parallelism (ep of more than one rank): each rank holds other experts, so the
// squares of its expert grads (Sharding::expert) are summed over ep, and the dense grads,
// identical on every rank after the data-parallel mean, are counted once. Every rank gets the
// same norm and decision. ep of one rank: the function above, bit for bit.
ClipResult clip_grad_norm(const std::vector<Parameter*>& params, double max_norm, bool scale_grads,
                          Comm& ep);

}  // namespace vpmoe::host::train
