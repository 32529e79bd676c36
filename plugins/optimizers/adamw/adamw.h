#pragma once
// optimizer.adamw (spec/optimizer.md §4): bias-corrected Adam with decoupled weight decay on
// the fp32 main parameters, for everything NorMuon does not take. The per-element update is
// one pass (adamw_update: a CPU loop, a CUDA kernel); the step counter is per parameter.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vpmoe/optimizer.h"
#include "vpmoe/registry.h"

namespace vpmoe::adamw {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class AdamW final : public Optimizer {
 public:
  explicit AdamW(AdamWOptions o) : o_(o) {}
  std::string spec_name() const override { return "optimizer.adamw"; }
  ShardUnit shard_unit() const override { return ShardUnit::elements; }
  void add_parameters(const std::vector<Parameter*>& params) override;
  void step(const OptimizerStep& s) override;
  // "<name>.exp_avg", "<name>.exp_avg_sq" (f32, the parameter's shape and device) and
  // "<name>.step" (i64 [1] on the CPU).
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;

 private:
  struct Slot {
    Parameter* p;
    Tensor m, v;
    std::int64_t t = 0;
  };
  AdamWOptions o_;
  std::vector<Slot> slots_;
};

std::unique_ptr<Optimizer> build(const BuildArgs& args);

}  // namespace vpmoe::adamw
