#pragma once
// moe.experts.grouped_mlp (spec/moe.md §1, §3): E experts, each y = W2_e relu(W1_e x + b1_e)^2
// + b2_e, over rows already grouped by expert. The two products per direction are grouped
// GEMMs (ops::gemm_grouped / gemm_grouped_wgrad); the per-expert biases are added and summed
// per row group (ops::bias_add_grouped / bias_grad_grouped, deterministic).
// The routing weight is the MoE layer's business, not the experts'. Under expert parallelism a
// rank builds only its shard (experts [first, first + experts) of the layer's), with the same
// names and the initial values of those rows of the whole stack.
#include <memory>
#include <vector>

#include "vpmoe/experts.h"
#include "vpmoe/registry.h"

namespace vpmoe::experts {

struct GroupedMlpOptions {
  int experts = 256, hidden = 1024, width = 128;  // experts: this rank's
  int first = 0;                                  // the first one's index in the layer
  bool bias = true;
  int num_layers = 1;
  double init_std = 0.02;
  std::uint64_t seed = 1234;
  bool bf16 = false;
  std::string prefix;  // "layers.L.moe.experts"
};

class GroupedMlp final : public Experts {
 public:
  GroupedMlp(GroupedMlpOptions o, Device device);
  std::string spec_name() const override { return "moe.experts.grouped_mlp"; }
  int num_experts() const override { return o_.experts; }
  std::vector<Parameter*> parameters() override;
  // Per routed (token, expert) pair: the MoE layer multiplies by k.
  double flops_per_token(std::int64_t seq_len) const override;
  Tensor forward(const Context& ctx, const Tensor& x, std::span<const std::int64_t> rows) override;
  Tensor backward(const Context& ctx, const Tensor& dy) override;
  void drop_saved() override;

 private:
  GroupedMlpOptions o_;
  Device device_;
  Parameter w1_, b1_, w2_, b2_;  // [E, F, H], [E, F], [E, H, F], [E, H]
  std::vector<std::int64_t> rows_;
  Tensor x_, h_, a_;  // input, pre-activation, activation
};

std::unique_ptr<Experts> build(const BuildArgs& args);

}  // namespace vpmoe::experts
