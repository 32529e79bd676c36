#pragma once
#include "vpmoe/module.h"

namespace vpmoe {

// [N, H] -> [N, H]. The dense FFN and the whole MoE layer both implement it.
class FeedForward : public Module {
 public:
  static constexpr const char* kind = "ffn";
  virtual Tensor forward(const Context& ctx, const Tensor& x) = 0;
  virtual Tensor backward(const Context& ctx, const Tensor& dy) = 0;
  // Auxiliary loss of the last forward (0 when there is none), already weighted.
  virtual double aux_loss() const { return 0.0; }
};

}  // namespace vpmoe
