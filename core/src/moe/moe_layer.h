#pragma once
// The MoE FFN of spec/moe.md: router -> dispatcher -> grouped experts -> weighted combine, plus
// the always-on shared expert, behind the FeedForward interface. The parts are plugins (and
// the dispatcher an interface); the layer also keeps the step's per-expert counts for the
// expert-bias update and the load statistics the trainer logs.
#include <memory>
#include <vector>

#include "moe/token_dispatcher.h"
#include "vpmoe/comm.h"
#include "vpmoe/experts.h"
#include "vpmoe/feed_forward.h"
#include "vpmoe/router.h"

namespace vpmoe::moe {

struct LoadStats {
  std::int64_t min = 0, max = 0;
  double cv = 0;  // standard deviation / mean of tokens per expert
};
LoadStats load_stats(const std::vector<std::int64_t>& counts);

class MoeLayer final : public FeedForward {
 public:
  MoeLayer(std::unique_ptr<Router> router, std::unique_ptr<Experts> experts,
           std::unique_ptr<FeedForward> shared, std::unique_ptr<TokenDispatcher> dispatcher,
           int topk);
  std::string spec_name() const override { return "moe.layer"; }
  std::vector<Parameter*> parameters() override;
  // Router + k routed experts + shared expert.
  double flops_per_token(std::int64_t seq_len) const override;
  // Parameters one token uses: router, k of the E experts, the shared expert.
  std::int64_t active_parameter_count();
  Tensor forward(const Context& ctx, const Tensor& x) override;
  Tensor backward(const Context& ctx, const Tensor& dy) override;
  double aux_loss() const override { return router_->aux_loss(); }
  // The router's, experts', shared expert's and dispatcher's.
  void drop_saved() override;
  // The router's, experts' and shared expert's state under "router.", "experts.", "shared.".
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;

  // (token, expert) selections per expert of the layer (all of them, also under expert
  // parallelism) since the last finish_step; training forwards only, a recomputed one not
  // again.
  const std::vector<std::int64_t>& step_counts() const { return counts_; }
  // After backward, before the optimizer: counts summed over ranks (step_counts() on one
  // rank) update the router's expert bias; the counts reset and become last_step_stats().
  void finish_step(const std::vector<std::int64_t>& summed_counts);
  // The same with this rank's step_counts() summed over group (the dp ranks; spec/moe.md §5),
  // so every rank applies the identical bias update.
  void finish_step(Comm& group);
  // A skipped step (non-finite grads): the counts reset, the bias stays.
  void discard_step();
  const LoadStats& last_step_stats() const { return stats_; }

  Router& router() { return *router_; }
  Experts& experts() { return *experts_; }
  // bytes_sent() is the all-to-all traffic for the metrics.
  const TokenDispatcher& dispatcher() const { return *dispatcher_; }

 private:
  std::unique_ptr<Router> router_;
  std::unique_ptr<Experts> experts_;
  std::unique_ptr<FeedForward> shared_;
  std::unique_ptr<TokenDispatcher> dispatcher_;
  int k_;
  std::vector<std::int64_t> counts_;
  LoadStats stats_;
  DType dtype_ = DType::f32;
};

}  // namespace vpmoe::moe
