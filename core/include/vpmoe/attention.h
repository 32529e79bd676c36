#pragma once
#include "vpmoe/module.h"
#include "vpmoe/positional.h"

namespace vpmoe {

// Shared across the layers of one model: the value-residual source (layer 1's values) and the
// gradient that later layers send back to it.
struct ValueResidualState {
  Tensor v1;   // [batch, seq, groups, head_dim]
  Tensor dv1;  // same shape, accumulated by layers > 1 during backward
};

// hidden [batch*seq, H] -> [batch*seq, H]. Owns its projections; receives its positional
// encoding and its role (LayerInfo: local window or global) at construction.
class Attention : public Module {
 public:
  static constexpr const char* kind = "attention";
  virtual Tensor forward(const Context& ctx, const Tensor& x, ValueResidualState* vr) = 0;
  // Returns dx; accumulates parameter grads (and vr->dv1 for layers > 1).
  virtual Tensor backward(const Context& ctx, const Tensor& dy, ValueResidualState* vr) = 0;
};

}  // namespace vpmoe
