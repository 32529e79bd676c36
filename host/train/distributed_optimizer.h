#pragma once
// The distributed optimizer ([parallel] distributed_optimizer = true; ZeRO-1): one optimizer
// group's plugin, given only this rank's share of the group's parameters, then the updated
// weights all-gathered so every replica holds them again.
//   - Dense parameters are shared over the dp group, expert-sharded ones (Sharding::expert)
//     over the expert-dp group, each by plan_shards (shard_plan.h): AdamW by elements, NorMuon
//     by whole matrices. The plugin sees Parameter views of the pieces (shard_parameter) named
//     "<param>@<begin>:<end>", so its state keys name the pieces and re-shard on load
//     (optimizer_reshard.h). Its state and step time fall about 1/dp.
//   - The grads stay whole and all-reduced (grad_sync.h): the global norm needs them, and a
//     NorMuon matrix cut does not follow the gradient buckets. (Megatron's reduce-scatter into
//     element shards would halve that traffic for AdamW only.)
//   - After the step the fp32 main values are all-gathered, in rounds of at most
//     [parallel] ddp_bucket_size elements (the temporary buffers stay small), then every bf16
//     compute copy is refreshed from them. Gathering the bf16 compute weights alone would halve
//     the bytes (a rank steps only its own pieces' fp32 values); fp32 is gathered because on
//     the CPU the compute weights are the fp32 values themselves, a checkpoint's
//     model.safetensors holds the whole fp32 main copy, and a re-shard for another layout
//     hands pieces to new owners that must continue from their exact fp32 values.
// With one rank the pieces are the whole parameters and the plugin runs exactly as without.
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "train/shard_plan.h"
#include "vpmoe/optimizer.h"
#include "vpmoe/parallel.h"

namespace vpmoe::host::train {

class DistributedOptimizer final : public Optimizer {
 public:
  // inner: the group's plugin; gather_elements: the most elements one all-gather round moves.
  DistributedOptimizer(std::unique_ptr<Optimizer> inner, const ParallelState& ps,
                       std::int64_t gather_elements);
  std::string spec_name() const override { return inner_->spec_name(); }
  ShardUnit shard_unit() const override { return inner_->shard_unit(); }
  // Plans the pieces of params (once, before the first step) and gives this rank's to inner.
  void add_parameters(const std::vector<Parameter*>& params) override;
  // inner's step on this rank's pieces, then the all-gather of the values.
  void step(const OptimizerStep& s) override;
  // inner's state: "<param>@<begin>:<end>.<slot>" for this rank's pieces.
  std::map<std::string, Tensor> state() const override;
  // The state of this rank's pieces, as state() names them (OptimizerSet::load_state cuts them
  // from another layout's).
  void load_state(const std::map<std::string, Tensor>& state) override;

  ShardUnit unit() const { return unit_; }
  Optimizer& inner() { return *inner_; }

 private:
  // The parameters shared over one process group, with every rank's pieces.
  struct Share {
    Comm* comm = nullptr;
    std::vector<Parameter*> params;
    ShardPlan plan;
  };
  void gather(const Share& s);
  void refresh_views();

  std::unique_ptr<Optimizer> inner_;
  const ParallelState& ps_;
  std::int64_t gather_elements_;
  ShardUnit unit_ = ShardUnit::elements;
  std::vector<Share> shares_;  // dense over dp, expert over expert dp
  // This rank's pieces (stable addresses: inner keeps pointers), with their source.
  struct Owned {
    Parameter* source;
    ShardPiece piece;
    Parameter view;
  };
  std::deque<Owned> owned_;
  std::vector<Parameter*> params_;
};

}  // namespace vpmoe::host::train
