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
  ps_ = ps;
  for (Parameter* p : params) params_[optimizer_group(*p)].push_back(p);
  BuildArgs args;
  args.config = &c;
  for (auto& [g, list] : params_) {
    // [optimizer] name takes the matrices, [plugins] optimizer_aux the rest.
    const std::string spec =
        g == OptimizerGroup::matrix ? "optimizer." + c.optimizer.name : c.plugins.optimizer_aux;
    args.device = list.front()->value.device();
    std::unique_ptr<Optimizer> opt = reg.create<Optimizer>(spec, args);
    const ShardUnit unit = opt->shard_unit();
    if (distributed_)
      opt = std::make_unique<DistributedOptimizer>(std::move(opt), *ps,
                                                   std::int64_t(c.parallel.ddp_bucket_size));
    for (const Parameter* p : list)
      if (p->sharding == Sharding::expert)
        expert_units_[std::string(optimizer_group_name(g)) + "/" + p->name] = shard_units(*p, unit);
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

std::string OptimizerSet::global_key(const std::string& key) const {
  return state_key_to_global(key, expert_units_, ps_->layout.ep_rank(), ps_->layout.ep);
}

bool OptimizerSet::expert_state(const std::string& key) const {
  return !state_key_param(key, expert_units_).empty();
}

std::map<std::string, Tensor> OptimizerSet::state() const {
  std::map<std::string, Tensor> out;
  for (const Group& g : groups_)
    for (auto& [k, t] : g.optimizer->state())
      out[global_key(std::string(optimizer_group_name(g.group)) + "/" + k)] = t;
  return out;
}

void OptimizerSet::load_state(const std::map<std::string, Tensor>& state) {
  for (Group& g : groups_) {
    const std::string prefix = std::string(optimizer_group_name(g.group)) + "/";
    std::map<std::string, Tensor> mine;
    for (const auto& [k, t] : state)
      if (k.compare(0, prefix.size(), prefix) == 0) mine[k.substr(prefix.size())] = t;
    try {
      load_group_state(g, mine);
    } catch (const Error& e) {
      throw Error("optimizer group " + prefix.substr(0, prefix.size() - 1) + ": " + e.what());
    }
  }
}

// The group's own keys, in the whole model's coordinates, taken as they are when the saved
// state has them with the same shapes (the same layout: no copy), else cut from whatever
// pieces were saved.
void OptimizerSet::load_group_state(Group& g, const std::map<std::string, Tensor>& saved) {
  const std::string prefix = std::string(optimizer_group_name(g.group)) + "/";
  StateMap like;
  std::map<std::string, std::string> local_key;
  bool exact = true;
  for (auto& [k, t] : g.optimizer->state()) {
    const std::string key = global_key(prefix + k).substr(prefix.size());
    like[key] = t;
    local_key[key] = k;
    const auto it = saved.find(key);
    exact = exact && it != saved.end() && it->second.shape() == t.shape() &&
            it->second.dtype() == t.dtype();
  }
  StateMap got;
  if (exact) {
    for (const auto& [key, t] : like) got[key] = saved.at(key);
  } else {
    const ShardUnit unit = g.optimizer->shard_unit();
    std::map<std::string, std::int64_t> units;  // of each parameter of the whole model
    for (const Parameter* p : params_.at(g.group))
      units[p->name] =
          shard_units(*p, unit) * (p->sharding == Sharding::expert ? ps_->layout.ep : 1);
    got = reshard_state(saved, views_in_state(saved, units), like, views_in_state(like, units));
  }
  StateMap mine;
  for (const auto& [key, t] : got) mine[local_key.at(key)] = t;
  g.optimizer->load_state(mine);
}

}  // namespace vpmoe::host::train
