#pragma once
// Global-norm gradient clipping (spec/training.md §2.4): the L2 norm over every parameter's
// main grad, each parameter counted once; above max_norm, every grad is scaled by
// max_norm / (norm + 1e-6) (Megatron's coefficient). A non-finite norm leaves the grads as
// they are: the caller skips the step. The factor can instead be left to the optimizers
// (OptimizerStep::grad_scale), which saves a pass over every grad.
#include <vector>

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

}  // namespace vpmoe::host::train
