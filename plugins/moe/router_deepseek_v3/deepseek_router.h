#pragma once
// moe.router.deepseek_v3 (spec/moe.md §2, §4, §5). The logits are an fp32 GEMM on the module's
// device; selection, combine weights and the aux loss run on the host in double (routing_math),
// whatever the device: exact and simple, and a known cost on CUDA (one [N, E] copy each way
// per layer) until a fused routing kernel replaces it.
#include <memory>
#include <string>
#include <vector>

#include "routing_math.h"
#include "vpmoe/registry.h"
#include "vpmoe/router.h"

namespace vpmoe::router {

struct RouterOptions {
  int hidden = 1024;
  RoutingShape shape;
  bool linear_bias = true;  // b_r (add_bias_linear)
  bool expert_bias = true;  // selection bias beta (router_enable_expert_bias)
  double bias_update_rate = 1e-3;
  std::string balancing = "seq_aux_loss";  // seq_aux_loss | aux_loss | none
  double aux_coeff = 1e-4;
  double init_std = 0.02;
  std::uint64_t seed = 1234;
  std::string prefix;  // "layers.L.moe.router"
};

class DeepSeekRouter final : public Router {
 public:
  DeepSeekRouter(RouterOptions o, Device device);
  std::string spec_name() const override { return "moe.router.deepseek_v3"; }
  std::vector<Parameter*> parameters() override;
  double flops_per_token(std::int64_t seq_len) const override;
  Routing forward(const Context& ctx, const Tensor& x) override;
  Tensor backward(const Context& ctx, const Tensor& dweights) override;
  double aux_loss() const override { return aux_loss_; }
  void update_expert_bias(const std::vector<std::int64_t>& counts) override;

  const std::vector<float>& expert_bias() const { return beta_; }
  std::vector<float>& expert_bias() { return beta_; }
  const RouterOptions& options() const { return o_; }

 private:
  RouterOptions o_;
  Device device_;
  Parameter w_, b_;
  std::vector<float> beta_;  // selection-only bias, not trained by the optimizer
  // Kept from forward: the fp32 input, the scores, the choices, the aux loss's sigma grads.
  Tensor x32_;
  std::vector<float> sigma_;
  std::vector<std::int32_t> experts_;
  std::vector<double> dsigma_aux_;
  double aux_loss_ = 0;
};

std::unique_ptr<Router> build(const BuildArgs& args);

}  // namespace vpmoe::router
