// Parameter -> optimizer group and the group's learning rates (spec/optimizer.md §1, §5).
#include "vpmoe/config.h"
#include "vpmoe/optimizer.h"

namespace vpmoe {

OptimizerGroup optimizer_group(const Parameter& p) {
  switch (p.role) {
    case ParamRole::embedding:
    case ParamRole::output:
      return OptimizerGroup::embedding_output;
    case ParamRole::matrix:
    case ParamRole::router:
      return p.value.ndim() == 2 ? OptimizerGroup::matrix : OptimizerGroup::aux;
    case ParamRole::expert_matrix:
      return p.value.ndim() == 3 ? OptimizerGroup::matrix : OptimizerGroup::aux;
    default:
      return OptimizerGroup::aux;
  }
}

std::string_view optimizer_group_name(OptimizerGroup g) {
  switch (g) {
    case OptimizerGroup::matrix:
      return "matrix";
    case OptimizerGroup::aux:
      return "aux";
    case OptimizerGroup::embedding_output:
      return "embedding_output";
  }
  return "?";
}

LrRange group_lr(OptimizerGroup g, const Config& c) {
  const LrRange main{c.train.lr, c.train.min_lr};
  if (g == OptimizerGroup::matrix) return main;
  // The aux rates belong to NorMuon's companion AdamW; with another optimizer they do not apply.
  const bool normuon = c.optimizer.name == "normuon";
  LrRange aux{normuon ? c.optimizer.normuon_aux_lr.value_or(main.max_lr) : main.max_lr,
              normuon ? c.optimizer.normuon_aux_min_lr.value_or(main.min_lr) : main.min_lr};
  if (g == OptimizerGroup::embedding_output && c.train.decoupled_lr)
    return {*c.train.decoupled_lr, c.train.decoupled_min_lr.value_or(main.min_lr)};
  return aux;
}

}  // namespace vpmoe
