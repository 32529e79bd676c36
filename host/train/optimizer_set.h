#pragma once
// The run's optimizers, one per group of vpmoe::optimizer_group (spec/optimizer.md §1, §5):
// the matrices to optimizer.<[optimizer] name> (normuon, or adamw for everything), the rest to
// optimizer.adamw at the aux rate, the embedding and output to their own AdamW at the
// decoupled rate. Each group has its own learning-rate schedule between its max and min.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "train/lr_schedule.h"
#include "vpmoe/optimizer.h"
#include "vpmoe/registry.h"

namespace vpmoe::host::train {

class OptimizerSet {
 public:
  struct Group {
    OptimizerGroup group;
    std::string spec;  // "optimizer.normuon"
    std::unique_ptr<Optimizer> optimizer;
    LrSchedule schedule;
    std::size_t parameters = 0;
  };

  // Unknown optimizer names fail with the names the registry has.
  OptimizerSet(const Config& c, const Registry& reg, const std::vector<Parameter*>& params);
  // One update of every group with step s's learning rates and [train] weight_decay, every
  // grad read times grad_scale (the clip's factor); returns each group's learning rate.
  std::map<OptimizerGroup, double> step(std::int64_t s, float grad_scale = 1.f);
  // Every group's state, keys prefixed "<group>/".
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& state);
  const std::vector<Group>& groups() const { return groups_; }

 private:
  std::vector<Group> groups_;
  double weight_decay_;
};

}  // namespace vpmoe::host::train
