#include "moe/moe_layer.h"

#include "device/host_profile.h"
#include "model/state_prefix.h"

#include <algorithm>
#include <cmath>

#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::moe {

LoadStats load_stats(const std::vector<std::int64_t>& counts) {
  LoadStats s;
  if (counts.empty()) return s;
  s.min = *std::min_element(counts.begin(), counts.end());
  s.max = *std::max_element(counts.begin(), counts.end());
  double mean = 0, var = 0;
  for (std::int64_t c : counts) mean += double(c);
  mean /= double(counts.size());
  for (std::int64_t c : counts) var += (double(c) - mean) * (double(c) - mean);
  var /= double(counts.size());
  s.cv = mean > 0 ? std::sqrt(var) / mean : 0.0;
  return s;
}

MoeLayer::MoeLayer(std::unique_ptr<Router> router, std::unique_ptr<Experts> experts,
                   std::unique_ptr<FeedForward> shared, std::unique_ptr<TokenDispatcher> dispatcher,
                   int topk)
    : router_(std::move(router)),
      experts_(std::move(experts)),
      shared_(std::move(shared)),
      dispatcher_(std::move(dispatcher)),
      k_(topk),
      counts_(std::size_t(dispatcher_ ? dispatcher_->experts() : 0), 0) {
  if (!router_ || !experts_ || !dispatcher_)
    throw Error("moe.layer needs a router, experts and a dispatcher");
  // Counts, choices and k are over the layer's experts; the experts module may hold a shard.
  const int E = dispatcher_->experts(), local = dispatcher_->local_experts();
  if (experts_->num_experts() != local)
    throw Error("moe.layer: the experts module holds " + std::to_string(experts_->num_experts()) +
                " experts, the dispatcher runs " + std::to_string(local) + " of the layer's " +
                std::to_string(E) + " on this rank");
  if (k_ <= 0 || k_ > E)
    throw Error("moe.layer: top-k " + std::to_string(k_) + " out of 1.." + std::to_string(E));
}

std::vector<Parameter*> MoeLayer::parameters() {
  std::vector<Parameter*> ps = router_->parameters();
  for (Parameter* p : experts_->parameters()) ps.push_back(p);
  if (shared_)
    for (Parameter* p : shared_->parameters()) ps.push_back(p);
  return ps;
}

double MoeLayer::flops_per_token(std::int64_t seq_len) const {
  return router_->flops_per_token(seq_len) + k_ * experts_->flops_per_token(seq_len) +
         (shared_ ? shared_->flops_per_token(seq_len) : 0.0);
}

std::int64_t MoeLayer::active_parameter_count() {
  // One expert's parameters: the same whether this rank holds all experts or a shard.
  return router_->parameter_count() + experts_->parameter_count() / experts_->num_experts() * k_ +
         (shared_ ? shared_->parameter_count() : 0);
}

Tensor MoeLayer::forward(const Context& ctx, const Tensor& x) {
  dtype_ = x.dtype();
  Routing r;
  {
    VPMOE_HOST_SCOPE("moe router forward");
    r = router_->forward(ctx, x);
  }
  if (r.tokens_per_expert.size() != counts_.size())
    throw Error("moe.layer: the router counts " + std::to_string(r.tokens_per_expert.size()) +
                " experts, the layer has " + std::to_string(counts_.size()) + " (" +
                std::to_string(experts_->num_experts()) + " on this rank)");
  if (r.experts.ndim() != 2 || r.experts.size(1) != k_)
    throw Error("moe.layer: the router's choices are " + r.experts.str() + ", expected [N, " +
                std::to_string(k_) + "] (top-k)");
  // Evaluation forwards (ctx.training false) must not move the expert bias, and a recomputed
  // forward's tokens were counted by the first.
  if (ctx.training && !ctx.recomputing)
    for (std::size_t e = 0; e < counts_.size(); ++e) counts_[e] += r.tokens_per_expert[e];
  const Dispatched d = dispatcher_->dispatch(x, r);
  Context ectx = ctx;
  ectx.batch = 1, ectx.seq_len = d.x.size(0);
  Tensor y;
  {
    VPMOE_HOST_SCOPE("moe experts forward");
    y = experts_->forward(ectx, d.x, d.rows);
  }
  Tensor out = dispatcher_->combine(y);
  if (shared_) {
    VPMOE_HOST_SCOPE("moe shared expert forward");
    ops::add(out, shared_->forward(ctx, x), out);
  }
  return out;
}

Tensor MoeLayer::backward(const Context& ctx, const Tensor& dy) {
  Tensor dweights;
  const Tensor dyp = dispatcher_->combine_backward(dy, dweights);
  Context ectx = ctx;
  ectx.batch = 1, ectx.seq_len = dyp.size(0);
  Tensor dyx;
  {
    VPMOE_HOST_SCOPE("moe experts backward");
    dyx = experts_->backward(ectx, dyp);
  }
  Tensor dx = dispatcher_->dispatch_backward(dyx);  // f32
  {
    VPMOE_HOST_SCOPE("moe router backward");
    ops::axpy(1.f, router_->backward(ctx, dweights), dx);
  }
  if (shared_) {
    VPMOE_HOST_SCOPE("moe shared expert backward");
    ops::axpy(1.f, shared_->backward(ctx, dy), dx);
  }
  return ops::cast_to(dx, dtype_);
}

void MoeLayer::drop_saved() {
  router_->drop_saved();
  experts_->drop_saved();
  if (shared_) shared_->drop_saved();
  dispatcher_->drop_saved();
}

void MoeLayer::finish_step(const std::vector<std::int64_t>& summed_counts) {
  router_->update_expert_bias(summed_counts);
  stats_ = load_stats(summed_counts);
  std::fill(counts_.begin(), counts_.end(), 0);
}

void MoeLayer::discard_step() {
  std::fill(counts_.begin(), counts_.end(), 0);
}

void MoeLayer::finish_step(Comm& group) {
  std::vector<std::int64_t> summed = counts_;
  group.all_reduce_sum(summed);
  finish_step(summed);
}

std::map<std::string, Tensor> MoeLayer::state() const {
  model::StateMap out;
  model::add_prefixed(out, "router.", router_->state());
  model::add_prefixed(out, "experts.", experts_->state());
  if (shared_) model::add_prefixed(out, "shared.", shared_->state());
  return out;
}

void MoeLayer::load_state(const std::map<std::string, Tensor>& state) {
  router_->load_state(model::take_prefixed(state, "router."));
  experts_->load_state(model::take_prefixed(state, "experts."));
  if (shared_) shared_->load_state(model::take_prefixed(state, "shared."));
}

}  // namespace vpmoe::moe
