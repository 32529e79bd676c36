#include "train/optimizer_set.h"

#include "train/distributed_optimizer.h"
#include "train/optimizer_reshard.h"

#include "vpmoe/config.h"
#include "vpmoe/error.h"

namespace vpmoe::host::train {

OptimizerSet::OptimizerSet(const Config& c, const Registry& reg,
                           const std::vector<Parameter*>& params, const ParallelState* ps)
    : weight_decay_(c.train.weight_decay), distributed_(c.parallel.distributed_optimizer) {
  if (!ps) {
    single_ = single_process_state();
    ps = single_.get();
  }
  for (Parameter* p : params) params_[optimizer_group(*p)].push_back(p);
  BuildArgs args;
  args.config = &c;
  for (auto& [g, list] : params_) {
    const std::string spec = g == OptimizerGroup::matrix ? "optimizer." + c.optimizer.name
                                                         : std::string("optimizer.adamw");
    args.device = list.front()->value.device();
    std::unique_ptr<Optimizer> opt = reg.create<Optimizer>(spec, args);
    if (distributed_)
      opt = std::make_unique<DistributedOptimizer>(std::move(opt), *ps,
                                                   std::int64_t(c.parallel.ddp_bucket_size));
    Group group{g, spec, std::move(opt), LrSchedule(c.train, group_lr(g, c)), list.size()};
    group.optimizer->add_parameters(list);
    groups_.push_back(std::move(group));
  }
}

std::map<OptimizerGroup, double> OptimizerSet::step(std::int64_t s, float grad_scale) {
  std::map<OptimizerGroup, double> lrs;
  for (Group& g : groups_) {
    const double lr = g.schedule.at(s);
    g.optimizer->step(OptimizerStep{s, lr, weight_decay_, grad_scale});
    lrs[g.group] = lr;
  }
  return lrs;
}

std::map<std::string, Tensor> OptimizerSet::state() const {
  std::map<std::string, Tensor> out;
  for (const Group& g : groups_)
    for (auto& [k, t] : g.optimizer->state())
      out[std::string(optimizer_group_name(g.group)) + "/" + k] = t;
  return out;
}

void OptimizerSet::load_state(const std::map<std::string, Tensor>& state) {
  for (Group& g : groups_) {
    const std::string prefix = std::string(optimizer_group_name(g.group)) + "/";
    std::map<std::string, Tensor> mine;
    for (const auto& [k, t] : state)
      if (k.compare(0, prefix.size(), prefix) == 0) mine[k.substr(prefix.size())] = t;
    load_group_state(g, mine);
  }
}

// A plain optimizer given pieces (a distributed run's checkpoint) assembles its whole
// parameters from them; the distributed one re-shards by itself.
void OptimizerSet::load_group_state(Group& g, const std::map<std::string, Tensor>& state) {
  if (distributed_) return g.optimizer->load_state(state);
  const StateMap like = g.optimizer->state();
  bool plain = true;
  for (const auto& [key, t] : like) plain = plain && state.count(key);
  if (plain) return g.optimizer->load_state(state);
  const ShardUnit unit = shard_unit(g.spec);
  std::map<std::string, std::int64_t> units;
  std::vector<ShardView> whole;
  for (const Parameter* p : params_.at(g.group)) {
    units[p->name] = shard_units(*p, unit);
    whole.push_back(ShardView{p->name, p->name, 0, units[p->name]});
  }
  g.optimizer->load_state(reshard_state(state, views_in_state(state, units), like, whole));
}

}  // namespace vpmoe::host::train
