#include "train/optimizer_set.h"

#include "vpmoe/config.h"
#include "vpmoe/error.h"

namespace vpmoe::host::train {

OptimizerSet::OptimizerSet(const Config& c, const Registry& reg,
                           const std::vector<Parameter*>& params)
    : weight_decay_(c.train.weight_decay) {
  std::map<OptimizerGroup, std::vector<Parameter*>> by_group;
  for (Parameter* p : params) by_group[optimizer_group(*p)].push_back(p);
  BuildArgs args;
  args.config = &c;
  for (auto& [g, ps] : by_group) {
    const std::string spec = g == OptimizerGroup::matrix ? "optimizer." + c.optimizer.name
                                                         : std::string("optimizer.adamw");
    args.device = ps.front()->value.device();
    Group group{g, spec, reg.create<Optimizer>(spec, args), LrSchedule(c.train, group_lr(g, c)),
                ps.size()};
    group.optimizer->add_parameters(ps);
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
    g.optimizer->load_state(mine);
  }
}

}  // namespace vpmoe::host::train
