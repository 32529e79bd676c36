#include "deepseek_router.h"

#include <cmath>

#include "vpmoe/config.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"
#include "vpmoe/version.h"

namespace vpmoe::router {

DeepSeekRouter::DeepSeekRouter(RouterOptions o, Device device)
    : o_(std::move(o)), device_(device), beta_(std::size_t(o_.shape.experts), 0.f) {
  const RoutingShape& s = o_.shape;
  if (s.experts <= 0 || s.groups <= 0 || s.experts % s.groups != 0 || s.group_topk <= 0 ||
      s.group_topk > s.groups || s.k <= 0 || s.k % s.group_topk != 0 ||
      s.k > s.group_topk * (s.experts / s.groups) || s.k / s.group_topk > s.experts / s.groups)
    throw Error("moe.router.deepseek_v3: cannot pick " + std::to_string(s.k) + " of " +
                std::to_string(s.experts) + " experts in " + std::to_string(s.group_topk) + " of " +
                std::to_string(s.groups) + " groups");
  // Router parameters stay fp32 on every device (router_dtype = fp32).
  w_ = Parameter::make(o_.prefix + ".weight", {s.experts, o_.hidden}, ParamRole::router, device);
  ops::init_normal(w_.value, 0.f, float(o_.init_std), parameter_seed(o_.seed, w_.name));
  if (o_.linear_bias) {
    b_ = Parameter::make(o_.prefix + ".bias", {s.experts}, ParamRole::bias, device);
    b_.weight_decay = false;
    ops::init_normal(b_.value, 0.f, float(o_.init_std), parameter_seed(o_.seed, b_.name));
  }
}

std::vector<Parameter*> DeepSeekRouter::parameters() {
  if (o_.linear_bias) return {&w_, &b_};
  return {&w_};
}

double DeepSeekRouter::flops_per_token(std::int64_t) const {
  return 2.0 * o_.shape.experts * double(o_.hidden);
}

Routing DeepSeekRouter::forward(const Context& ctx, const Tensor& x) {
  const std::int64_t N = ctx.batch * ctx.seq_len, E = o_.shape.experts;
  check_shape(x, {N, o_.hidden}, "moe.router.deepseek_v3: x");
  x32_ = ops::cast_to(x, DType::f32);
  Tensor z = Tensor::empty({N, E}, DType::f32, device_);
  ops::gemm(x32_, w_.value, z, false, true);
  if (o_.linear_bias) ops::bias_add(z, b_.value);
  have_forward_ = true;
  return device_.is_cuda() ? forward_cuda(ctx, z) : forward_host(ctx, z);
}

Tensor DeepSeekRouter::backward(const Context& ctx, const Tensor& dweights) {
  const std::int64_t N = ctx.batch * ctx.seq_len, k = o_.shape.k;
  if (!have_forward_) throw Error("moe.router.deepseek_v3: backward before forward");
  check_shape(dweights, {N, k}, "moe.router.deepseek_v3: dweights");
  const Tensor dz = device_.is_cuda() ? backward_cuda(ctx, dweights) : backward_host(ctx, dweights);
  have_forward_ = false;
  return logit_grads_to_input(dz);
}

Tensor DeepSeekRouter::logit_grads_to_input(const Tensor& dz) {
  if (o_.linear_bias) ops::bias_grad(dz, b_.grad, true);
  ops::gemm(dz, x32_, w_.grad, true, false, 1.f, 1.f);
  Tensor dx = Tensor::empty({dz.size(0), o_.hidden}, DType::f32, device_);
  ops::gemm(dz, w_.value, dx);
  x32_ = Tensor();
  return dx;
}

void DeepSeekRouter::drop_saved() {
  x32_ = Tensor();
  sigma_ = {};
  experts_ = {};
  dsigma_aux_ = {};
  device_state_ = cuda::RouteState();
  have_forward_ = false;
}

double DeepSeekRouter::aux_loss() const {
  if (aux_loss_device_.defined()) {
    aux_loss_ = aux_loss_device_.item();
    aux_loss_device_ = Tensor();
  }
  return aux_loss_;
}

Routing DeepSeekRouter::forward_host(const Context& ctx, const Tensor& zt) {
  const std::int64_t N = ctx.batch * ctx.seq_len, E = o_.shape.experts, k = o_.shape.k;
  sigma_ = zt.to_floats();
  for (float& v : sigma_) v = float(1.0 / (1.0 + std::exp(-double(v))));
  experts_.assign(std::size_t(N * k), 0);
  std::vector<float> weights(std::size_t(N * k));
  Routing r;
  r.tokens_per_expert.assign(std::size_t(E), 0);
  const std::span<const float> bias =
      o_.expert_bias ? std::span<const float>(beta_) : std::span<const float>();
  for (std::int64_t t = 0; t < N; ++t) {
    select_experts(o_.shape, std::span<const float>(sigma_).subspan(std::size_t(t * E), E), bias,
                   std::span<std::int32_t>(experts_).subspan(std::size_t(t * k), k),
                   std::span<float>(weights).subspan(std::size_t(t * k), k));
    for (std::int64_t i = 0; i < k; ++i) ++r.tokens_per_expert[std::size_t(experts_[t * k + i])];
  }
  // The aux loss and its (upstream-independent) gradient, per sequence or over the batch; the
  // gradient is weighted by ctx.aux_loss_scale in the backward. Evaluation (decode, validation)
  // leaves the last training forward's aux loss alone.
  // A recomputed forward (ctx.recomputing) needs the gradient again but reports the loss once.
  dsigma_aux_.assign(sigma_.size(), 0.0);
  if (!ctx.training) return finish_host_routing(N, k, weights, r);
  double aux = 0;
  if (o_.balancing != "none") {
    const std::int64_t seqs = o_.balancing == "seq_aux_loss" ? ctx.batch : 1, T = N / seqs;
    for (std::int64_t b = 0; b < seqs; ++b)
      aux += seq_aux_loss(o_.shape, o_.aux_coeff,
                          std::span<const float>(sigma_).subspan(std::size_t(b * T * E), T * E), T,
                          1.0 / double(seqs),
                          std::span<double>(dsigma_aux_).subspan(std::size_t(b * T * E), T * E)) /
             double(seqs);
  }
  if (!ctx.recomputing) aux_loss_ = aux, aux_loss_device_ = Tensor();
  return finish_host_routing(N, k, weights, r);
}

Routing DeepSeekRouter::finish_host_routing(std::int64_t N, std::int64_t k,
                                            const std::vector<float>& weights, Routing& r) {
  std::vector<float> ids(experts_.begin(), experts_.end());
  r.experts = Tensor::from_floats(ids, {N, k}, DType::i32, device_);
  r.weights = Tensor::from_floats(weights, {N, k}, DType::f32, device_);
  return r;
}

Tensor DeepSeekRouter::backward_host(const Context& ctx, const Tensor& dweights) {
  const std::int64_t N = ctx.batch * ctx.seq_len, E = o_.shape.experts, k = o_.shape.k;
  const std::vector<float> dw = dweights.to_floats();
  std::vector<double> dsigma = dsigma_aux_;
  for (double& v : dsigma) v *= ctx.aux_loss_scale;
  for (std::int64_t t = 0; t < N; ++t)
    combine_backward(o_.shape, std::span<const float>(sigma_).subspan(std::size_t(t * E), E),
                     std::span<const std::int32_t>(experts_).subspan(std::size_t(t * k), k),
                     std::span<const float>(dw).subspan(std::size_t(t * k), k),
                     std::span<double>(dsigma).subspan(std::size_t(t * E), E));
  std::vector<float> dz(dsigma.size());
  for (std::size_t i = 0; i < dz.size(); ++i)
    dz[i] = float(dsigma[i] * sigma_[i] * (1.0 - sigma_[i]));
  sigma_.clear();
  return Tensor::from_floats(dz, {N, E}, DType::f32, device_);
}

#if VPMOE_HAS_CUDA
Routing DeepSeekRouter::forward_cuda(const Context& ctx, const Tensor& z) {
  if (o_.expert_bias && beta_stale_) {
    beta_device_ = Tensor::from_floats(beta_, {o_.shape.experts}, DType::f32, device_);
    beta_stale_ = false;
  }
  // Evaluation (decode, validation) computes no aux loss and keeps the last one.
  const bool aux = ctx.training && o_.balancing != "none";
  const std::int64_t seqs = o_.balancing == "seq_aux_loss" ? ctx.batch : 1;
  device_state_ = cuda::route_forward(o_.shape, z, o_.expert_bias ? beta_device_ : Tensor(), seqs,
                                      aux, o_.aux_coeff);
  if (ctx.training && !ctx.recomputing) {  // a recomputed forward reports the loss once
    aux_loss_ = 0;
    aux_loss_device_ = aux ? device_state_.aux_loss : Tensor();
  }
  Routing r;
  std::vector<std::int32_t> counts(std::size_t(o_.shape.experts));
  device_copy(counts.data(), Device::cpu(), device_state_.counts.data(), device_,
              counts.size() * sizeof(std::int32_t));
  r.tokens_per_expert.assign(counts.begin(), counts.end());
  r.experts = device_state_.experts;
  r.weights = device_state_.weights;
  return r;
}

Tensor DeepSeekRouter::backward_cuda(const Context& ctx, const Tensor& dweights) {
  Tensor dz = cuda::route_backward(o_.shape, device_state_, ops::cast_to(dweights, DType::f32),
                                   o_.aux_coeff, ctx.aux_loss_scale);
  device_state_ = cuda::RouteState();
  return dz;
}
#else
Routing DeepSeekRouter::forward_cuda(const Context&, const Tensor&) {
  throw Error("moe.router.deepseek_v3: this build has no CUDA parts");
}
Tensor DeepSeekRouter::backward_cuda(const Context&, const Tensor&) {
  throw Error("moe.router.deepseek_v3: this build has no CUDA parts");
}
#endif

void DeepSeekRouter::set_expert_bias(std::vector<float> beta) {
  if (beta.size() != beta_.size())
    throw Error("moe.router.deepseek_v3: expert bias needs " + std::to_string(beta_.size()) +
                " values, got " + std::to_string(beta.size()));
  beta_ = std::move(beta);
  beta_stale_ = true;
}

std::map<std::string, Tensor> DeepSeekRouter::state() const {
  if (!o_.expert_bias) return {};
  return {{"expert_bias", Tensor::from_floats(beta_, {std::int64_t(beta_.size())}, DType::f32)}};
}

void DeepSeekRouter::load_state(const std::map<std::string, Tensor>& state) {
  if (!o_.expert_bias) return;
  const auto it = state.find("expert_bias");
  if (it == state.end()) throw Error("moe.router.deepseek_v3: the saved state has no expert_bias");
  set_expert_bias(it->second.to_floats());
}

void DeepSeekRouter::update_expert_bias(const std::vector<std::int64_t>& counts) {
  if (!o_.expert_bias) return;
  if (counts.size() != beta_.size())
    throw Error("moe.router.deepseek_v3: expert-bias update needs " + std::to_string(beta_.size()) +
                " counts, got " + std::to_string(counts.size()));
  double mean = 0;
  for (std::int64_t c : counts) mean += double(c);
  mean /= double(counts.size());
  for (std::size_t e = 0; e < beta_.size(); ++e) {
    const double d = mean - double(counts[e]);
    beta_[e] += float(o_.bias_update_rate * double((d > 0) - (d < 0)));
  }
  beta_stale_ = true;
}

std::unique_ptr<Router> build(const BuildArgs& args) {
  if (!args.config) throw Error("moe.router.deepseek_v3 needs the run configuration");
  const Config& c = *args.config;
  const MoeConfig& m = c.moe;
  if (m.router_score_function != "sigmoid")
    c.fail("moe.router_score_function",
           "moe.router.deepseek_v3 scores with sigmoid, found " + m.router_score_function);
  if (m.router_dtype != "fp32")
    c.fail("moe.router_dtype", "moe.router.deepseek_v3 runs in fp32, found " + m.router_dtype);
  RouterOptions o;
  o.hidden = c.model.hidden_size;
  o.shape = RoutingShape{m.num_experts, m.topk, m.router_num_groups, m.router_group_topk,
                         m.router_topk_scaling_factor};
  auto bad = [&](const char* key, const std::string& why) { c.fail(key, why); };
  if (m.num_experts <= 0) bad("moe.num_experts", "expected experts > 0");
  if (m.topk <= 0 || m.topk > m.num_experts)
    bad("moe.topk", "expected 1 <= topk <= num_experts, found " + std::to_string(m.topk));
  if (m.num_experts % m.router_num_groups != 0)
    bad("moe.router_num_groups", std::to_string(m.num_experts) + " experts do not split into " +
                                     std::to_string(m.router_num_groups) + " groups");
  if (m.router_group_topk > m.router_num_groups || m.topk % m.router_group_topk != 0 ||
      m.topk / m.router_group_topk > m.num_experts / m.router_num_groups)
    bad("moe.router_group_topk", "topk " + std::to_string(m.topk) + " cannot come from " +
                                     std::to_string(m.router_group_topk) + " of " +
                                     std::to_string(m.router_num_groups) + " groups");
  o.linear_bias = c.model.add_bias_linear;
  o.expert_bias = m.router_enable_expert_bias;
  o.bias_update_rate = m.router_bias_update_rate;
  o.balancing = m.router_load_balancing_type;
  o.aux_coeff = m.aux_loss_coeff;
  o.init_std = c.train.init_method_std;
  o.seed = args.seed;
  o.prefix = "layers." + std::to_string(args.layer.layer) + ".moe.router";
  return std::make_unique<DeepSeekRouter>(o, args.device);
}

}  // namespace vpmoe::router
