#pragma once
// ffn.dense (spec/moe.md §1): y = W2 relu(W1 x + b1)^2 + b2, non-gated, biases optional
// (add_bias_linear). Built for a dense layer it is that layer's FFN ([model] ffn_hidden_size
// wide); built for a MoE layer it is the layer's always-on shared expert
// ([moe] shared_expert_size wide, named "layers.L.moe.shared_expert").
#include <memory>

#include "vpmoe/feed_forward.h"
#include "vpmoe/registry.h"

namespace vpmoe::ffn {

struct DenseOptions {
  int hidden = 1024, width = 128;
  bool bias = true;
  int num_layers = 1;
  double init_std = 0.02;
  std::uint64_t seed = 1234;
  bool bf16 = false;
  std::string prefix;  // "layers.1.ffn"
};

class DenseFfn final : public FeedForward {
 public:
  DenseFfn(DenseOptions o, Device device);
  std::string spec_name() const override { return "ffn.dense"; }
  std::vector<Parameter*> parameters() override;
  double flops_per_token(std::int64_t seq_len) const override;
  Tensor forward(const Context& ctx, const Tensor& x) override;
  Tensor backward(const Context& ctx, const Tensor& dy) override;
  void drop_saved() override { x_ = h_ = a_ = Tensor(); }
  const DenseOptions& options() const { return o_; }

 private:
  DenseOptions o_;
  Device device_;
  Parameter w1_, b1_, w2_, b2_;
  Tensor x_, h_, a_;  // input, pre-activation, activation (kept for backward)
};

std::unique_ptr<FeedForward> build(const BuildArgs& args);

}  // namespace vpmoe::ffn
