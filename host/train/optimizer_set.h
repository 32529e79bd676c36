#pragma once
// The run's optimizers, one per group of vpmoe::optimizer_group (spec/optimizer.md §1, §5):
// the matrices to optimizer.<[optimizer] name> (normuon, or adamw for everything), the rest to
// optimizer.adamw at the aux rate, the embedding and output to their own AdamW at the
// decoupled rate. Each group has its own learning-rate schedule between its max and min.
// With [parallel] distributed_optimizer each group's plugin is wrapped in a
// DistributedOptimizer (ZeRO-1, distributed_optimizer.h) over the run's process groups.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "train/lr_schedule.h"
#include "vpmoe/optimizer.h"
#include "vpmoe/parallel.h"
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

  // Unknown optimizer names fail with the names the registry has. ps: the run's process groups
  // (null: one process), which the distributed optimizer shards over; it must outlive the set.
  OptimizerSet(const Config& c, const Registry& reg, const std::vector<Parameter*>& params,
               const ParallelState* ps = nullptr);
  // One update of every group with step s's learning rates and [train] weight_decay, every
  // grad read times grad_scale (the clip's factor); returns each group's learning rate.
  std::map<OptimizerGroup, double> step(std::int64_t s, float grad_scale = 1.f);
  // Every group's state, keys prefixed "<group>/", in the whole model's coordinates: an ep
  // rank's expert stacks at their place among all experts (state_key_to_global).
  // Distributed: this rank's pieces only, "<group>/<param>@<begin>:<end>.<slot>".
  std::map<std::string, Tensor> state() const;
  // Loads state written by any layout (plain or distributed, any dp and ep): a plain
  // optimizer's, or every old rank's pieces merged into one map. Each group takes its own keys
  // as they are when they fit, else re-shards them (optimizer_reshard.h).
  void load_state(const std::map<std::string, Tensor>& state);
  // Whether a key of state() belongs to an expert stack (one ep rank's, not replicated).
  bool expert_state(const std::string& key) const;
  bool distributed() const { return distributed_; }
  const std::vector<Group>& groups() const { return groups_; }

 private:
  void load_group_state(Group& g, const std::map<std::string, Tensor>& state);
  std::string global_key(const std::string& key) const;
  std::vector<Group> groups_;
  std::map<OptimizerGroup, std::vector<Parameter*>> params_;
  double weight_decay_;
  bool distributed_ = false;
  std::shared_ptr<ParallelState> single_;  // the groups when none were given
  const ParallelState* ps_;
  // "<group>/<param>" of each expert stack -> its units on this rank (shard_units).
  std::map<std::string, std::int64_t> expert_units_;
};

}  // namespace vpmoe::host::train
