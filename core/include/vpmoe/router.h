#pragma once
#include <cstdint>
#include <vector>

#include "vpmoe/module.h"

namespace vpmoe {

struct Routing {
  Tensor experts;  // [N, k] i32, chosen expert per token and slot
  Tensor weights;  // [N, k] f32, combine weights
  std::vector<std::int64_t> tokens_per_expert;  // host copy, length E
};

// Scores tokens and picks k experts each (the MoE plug point before dispatch).
class Router : public Module {
 public:
  static constexpr const char* kind = "moe.router";
  virtual Routing forward(const Context& ctx, const Tensor& x) = 0;
  // dweights [N, k] f32 -> dx [N, H]; includes the aux-loss gradient.
  virtual Tensor backward(const Context& ctx, const Tensor& dweights) = 0;
  virtual double aux_loss() const { return 0.0; }
  // Aux-loss-free balancing: update the selection bias from the step's counts (summed over
  // ranks by the caller), then reset them.
  virtual void update_expert_bias(const std::vector<std::int64_t>& counts) { (void)counts; }
};

}  // namespace vpmoe
