#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "vpmoe/parameter.h"

namespace vpmoe {

struct Config;

// Which optimizer a parameter goes to (spec/optimizer.md §1), by role and shape, never name:
// matrix -> optimizer.normuon (2-D matrices and the router weight; an expert stack [E, m, n]
// as E matrices); the rest -> optimizer.adamw, at the aux learning rate, or at decoupled_lr
// for the embedding and the output layer when that is set.
enum class OptimizerGroup { matrix, aux, embedding_output };
OptimizerGroup optimizer_group(const Parameter& p);
std::string_view optimizer_group_name(OptimizerGroup g);

// The learning-rate range of a group (spec/optimizer.md §5): [train] lr / min_lr for matrices;
// [optimizer] normuon_aux_lr / normuon_aux_min_lr (else lr / min_lr; and only with
// name = "normuon") for the rest; [train]
// decoupled_lr / decoupled_min_lr for the embedding and output when set, else the aux range.
struct LrRange {
  double max_lr = 0, min_lr = 0;
};
LrRange group_lr(OptimizerGroup g, const Config& c);

struct OptimizerStep {
  std::int64_t step = 0;  // 0-based index of this update
  double lr = 0;
  double weight_decay = 0;  // multiplied by each parameter's weight_decay flag
  // Every grad is read times this, with the bits of scaling it in place first (g * grad_scale
  // in f32): the global-norm clip's factor, applied in the optimizer's own pass over the grads.
  float grad_scale = 1.f;
};

// How the distributed optimizer may split an optimizer's parameters over ranks.
enum class ShardUnit {
  elements,  // any range of elements (an element-wise update, e.g. AdamW)
  matrices,  // whole matrices (e.g. NorMuon): an expert stack [E, m, n] splits into its E
             // matrices; a vector stays whole
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
  // Whole matrices unless the update is element-wise (safe for any optimizer).
  virtual ShardUnit shard_unit() const { return ShardUnit::matrices; }
};

}  // namespace vpmoe
