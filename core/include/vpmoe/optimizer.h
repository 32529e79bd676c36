#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vpmoe/parameter.h"

namespace vpmoe {

struct OptimizerStep {
  std::int64_t step = 0;  // 0-based index of this update
  double lr = 0;
  double weight_decay = 0;  // multiplied by each parameter's weight_decay flag
};

// Steps a list of parameters given their fp32 main grads; saves and restores its state.
class Optimizer {
 public:
  static constexpr const char* kind = "optimizer";
  virtual ~Optimizer() = default;
  virtual std::string spec_name() const = 0;
  virtual void add_parameters(const std::vector<Parameter*>& params) = 0;
  virtual void step(const OptimizerStep& s) = 0;
  // State tensors by a stable key (e.g. "<param>.momentum"), for checkpoints.
  virtual std::map<std::string, Tensor> state() const = 0;
  virtual void load_state(const std::map<std::string, Tensor>& state) = 0;
};

}  // namespace vpmoe
