#pragma once
// moe.router.deepseek_v3 (spec/moe.md §2, §4, §5). The logits are an fp32 GEMM on the module's
// device. On the CPU, selection, combine weights and the aux loss run in double (routing_math,
// the reference); on CUDA, in the routing kernels (routing_cuda), which make the same choices
// on the same logits. Only the per-expert counts come back to the host.
#include <memory>
#include <string>
#include <vector>

#include "routing_cuda.h"
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
  double aux_loss() const override;
  void update_expert_bias(const std::vector<std::int64_t>& counts) override;
  // Drops the input, scores and choices (the aux loss of the forward stays readable).
  void drop_saved() override;

  // The selection bias beta: host state (checkpointed), mirrored on the device when it changes.
  const std::vector<float>& expert_bias() const { return beta_; }
  void set_expert_bias(std::vector<float> beta);
  std::map<std::string, Tensor> state() const override;  // "expert_bias" [E]
  void load_state(const std::map<std::string, Tensor>& state) override;
  const RouterOptions& options() const { return o_; }

 private:
  RouterOptions o_;
  Device device_;
  Parameter w_, b_;
  std::vector<float> beta_;  // selection-only bias, not trained by the optimizer
  Tensor beta_device_;       // its copy on a CUDA device, refreshed when beta_ changes
  bool beta_stale_ = true;

  Routing forward_host(const Context& ctx, const Tensor& z);
  // The choices and weights as device tensors into r.
  Routing finish_host_routing(std::int64_t N, std::int64_t k, const std::vector<float>& weights,
                              Routing& r);
  Tensor backward_host(const Context& ctx, const Tensor& dweights);
  Routing forward_cuda(const Context& ctx, const Tensor& z);
  Tensor backward_cuda(const Context& ctx, const Tensor& dweights);
  Tensor logit_grads_to_input(const Tensor& dz);

  // Kept from forward: the fp32 input; on the host the scores, choices and the aux loss's
  // sigma gradient; on CUDA the kernels' state.
  Tensor x32_;
  std::vector<float> sigma_;
  std::vector<std::int32_t> experts_;
  std::vector<double> dsigma_aux_;
  cuda::RouteState device_state_;
  bool have_forward_ = false;
  mutable Tensor aux_loss_device_;  // read (once) when aux_loss() is asked for
  mutable double aux_loss_ = 0;
};

std::unique_ptr<Router> build(const BuildArgs& args);

}  // namespace vpmoe::router
