#include "attention_layer.h"

#include <cmath>
#include <string>

#include "kv_cache.h"
#include "vpmoe/error.h"

namespace vpmoe::attention {

namespace {

Parameter vector_param(const std::string& name, Shape shape, ParamRole role, Device device) {
  Parameter p = Parameter::make(name, std::move(shape), role, device);
  p.weight_decay = false;
  return p;
}

}  // namespace

AttentionLayer::AttentionLayer(AttentionOptions o, Device device,
                               std::shared_ptr<Positional> positional)
    : o_(std::move(o)), device_(device), positional_(std::move(positional)) {
  const std::int64_t nh = o_.heads, ng = o_.groups, d = o_.head_dim, H = o_.hidden;
  if (o_.qkv_bias) {
    qkv_bias_ = vector_param(o_.prefix + ".qkv_bias", {(nh + 2 * ng) * d}, ParamRole::bias, device);
  }
  if (o_.qk_norm) {
    q_norm_ = vector_param(o_.prefix + ".q_norm", {d}, ParamRole::norm, device);
    k_norm_ = vector_param(o_.prefix + ".k_norm", {d}, ParamRole::norm, device);
    ops::fill(q_norm_.value, 1.f);
    ops::fill(k_norm_.value, 1.f);
  }
  w_o_ = make_weight(o_.prefix + ".w_o", {H, nh * d}, o_.init_std / std::sqrt(2.0 * o_.num_layers));
  if (o_.out_bias) b_o_ = vector_param(o_.prefix + ".b_o", {H}, ParamRole::bias, device);
  if (o_.softmax == Softmax::learnable) {
    offset_ = vector_param(o_.prefix + ".softmax_offset", {nh}, ParamRole::vector, device);
    ops::init_normal(offset_.value, 0.f, float(o_.init_std), parameter_seed(o_.seed, offset_.name));
  } else if (o_.softmax == Softmax::off_by_one) {
    zero_offset_ = Tensor::zeros({nh}, DType::f32, device);
  }
  if (o_.value_residual && o_.layer > 1) {
    theta_ = vector_param(o_.prefix + ".value_residual_logit", {1}, ParamRole::vector, device);
    const double init = std::min(std::max(o_.value_residual_init, 1e-4), 1.0 - 1e-4);
    ops::fill(theta_.value, float(std::log(init / (1.0 - init))));
  }
  if (positional_ && positional_->type() == Positional::Type::additive &&
      positional_->slopes().numel() != nh)
    throw Error(o_.spec_name + ": the positional encoding gives " +
                std::to_string(positional_->slopes().numel()) + " slopes for " +
                std::to_string(nh) + " heads");
}

Parameter AttentionLayer::make_weight(const std::string& name, Shape shape, double std) const {
  Parameter p = Parameter::make(name, std::move(shape), ParamRole::matrix, device_, o_.bf16);
  ops::init_normal(p.value, 0.f, float(std), parameter_seed(o_.seed, name));
  p.sync_compute();
  return p;
}

std::vector<Parameter*> AttentionLayer::parameters() {
  std::vector<Parameter*> ps = projection_parameters();
  for (Parameter* p : {&qkv_bias_, &q_norm_, &k_norm_, &w_o_, &b_o_, &offset_, &theta_})
    if (p->value.defined()) ps.push_back(p);
  if (positional_)
    for (Parameter* p : positional_->parameters()) ps.push_back(p);
  return ps;
}

double AttentionLayer::flops_per_token(std::int64_t seq_len) const {
  const double nh = o_.heads, d = o_.head_dim, H = o_.hidden;
  const double core = 4.0 * nh * d * mean_keys(seq_len, o_.window);
  return projection_flops() + core + 2.0 * H * nh * d +
         (positional_ ? positional_->flops_per_token(seq_len) : 0.0);
}

void AttentionLayer::linear(const Tensor& x, const Parameter& w, Tensor& out) const {
  ops::gemm(x, w.compute, out, false, true);
}

void AttentionLayer::linear_backward(const Tensor& x, const Tensor& dout, Parameter& w, Tensor& dx,
                                     bool accumulate_dx) const {
  ops::gemm(dout, x, w.grad, true, false, 1.f, 1.f);
  ops::gemm(dout, w.compute, dx, false, false, 1.f, accumulate_dx ? 1.f : 0.f);
}

ops::AttentionArgs AttentionLayer::core_args() const {
  ops::AttentionArgs a;
  a.window = o_.window;
  a.scale = float(1.0 / std::sqrt(double(o_.head_dim)));
  if (positional_ && positional_->type() == Positional::Type::additive)
    a.slopes = positional_->slopes();
  if (o_.softmax == Softmax::learnable) a.sink = offset_.value;
  if (o_.softmax == Softmax::off_by_one) a.sink = zero_offset_;
  return a;
}

Tensor AttentionLayer::forward(const Context& ctx, const Tensor& x, ValueResidualState* vr) {
  const std::int64_t B = ctx.batch, T = ctx.seq_len, N = B * T;
  const std::int64_t nh = o_.heads, ng = o_.groups, d = o_.head_dim;
  check_shape(x, {N, o_.hidden}, (o_.spec_name + ": x").c_str());
  check_dtype(x, act_dtype(), (o_.spec_name + ": x").c_str());
  x_ = x;
  Tensor q = act({N, nh, d}), k = act({N, ng, d}), v = act({N, ng, d});
  project(x, q, k, v);
  if (o_.qkv_bias) {
    Tensor qb = Tensor::empty({1, nh, d}, DType::f32, device_);
    Tensor kb = Tensor::empty({1, ng, d}, DType::f32, device_);
    Tensor vb = Tensor::empty({1, ng, d}, DType::f32, device_);
    ops::qkv_split(qkv_bias_.value.view({1, -1}), qb, kb, vb);
    Tensor qf = q.view({N, nh * d}), kf = k.view({N, ng * d}), vf = v.view({N, ng * d});
    ops::bias_add(qf, qb.view({nh * d}));
    ops::bias_add(kf, kb.view({ng * d}));
    ops::bias_add(vf, vb.view({ng * d}));
  }
  if (o_.qk_norm) {
    q_pre_ = q, k_pre_ = k;
    q = act({N, nh, d}), k = act({N, ng, d});
    rstd_q_ = Tensor::empty({N * nh}, DType::f32, device_);
    rstd_k_ = Tensor::empty({N * ng}, DType::f32, device_);
    Tensor qn = q.view({N * nh, d}), kn = k.view({N * ng, d});
    ops::rmsnorm_forward(q_pre_.view({N * nh, d}), q_norm_.value, float(o_.norm_eps), qn, rstd_q_);
    ops::rmsnorm_forward(k_pre_.view({N * ng, d}), k_norm_.value, float(o_.norm_eps), kn, rstd_k_);
  }
  q_ = q.view({B, T, nh, d});
  k_ = k.view({B, T, ng, d});
  if (positional_ && positional_->type() == Positional::Type::multiplicative) {
    positional_->apply(ctx, q_);
    positional_->apply(ctx, k_);
  }
  v_raw_ = v.view({B, T, ng, d});
  v_ = v_raw_;
  if (vr && o_.value_residual && o_.layer == 1) {
    vr->v1 = v_raw_;
    // A recomputed forward runs after the later layers' backward: dv1 holds their gradient.
    if (!ctx.recomputing || !vr->dv1.defined())
      vr->dv1 = Tensor::zeros(v_raw_.shape(), DType::f32, device_);
  } else if (mixes_values(vr)) {
    if (!vr->v1.defined())
      throw Error(o_.spec_name + " (layer " + std::to_string(o_.layer) +
                  "): the value residual needs layer 1's values; run layer 1 first");
    v_ = act({B, T, ng, d});
    ops::value_residual_forward(v_raw_, vr->v1, theta_.value, v_);
  }
  out_ = act({B, T, nh, d});
  lse_ = Tensor::empty({B, nh, T}, DType::f32, device_);
  ops::attention_forward(q_, k_, v_, core_args(), out_, lse_);
  Tensor y = act({N, o_.hidden});
  linear(out_.view({N, nh * d}), w_o_, y);
  if (o_.out_bias) ops::bias_add(y, b_o_.value);
  return y;
}

Tensor AttentionLayer::backward(const Context& ctx, const Tensor& dy, ValueResidualState* vr) {
  const std::int64_t B = ctx.batch, T = ctx.seq_len, N = B * T;
  const std::int64_t nh = o_.heads, ng = o_.groups, d = o_.head_dim;
  if (!out_.defined()) throw Error(o_.spec_name + ": backward before forward");
  check_shape(dy, {N, o_.hidden}, (o_.spec_name + ": dy").c_str());
  if (o_.out_bias) ops::bias_grad(dy, b_o_.grad, true);
  Tensor dout = act({N, nh * d});
  linear_backward(out_.view({N, nh * d}), dy, w_o_, dout, false);

  Tensor dq = act({B, T, nh, d}), dk = act({B, T, ng, d}), dv = act({B, T, ng, d});
  Tensor dsink = o_.softmax == Softmax::learnable ? offset_.grad : Tensor();
  ops::attention_backward(dout.view({B, T, nh, d}), q_, k_, v_, out_, lse_, core_args(), dq, dk, dv,
                          dsink);
  if (mixes_values(vr)) {
    ops::value_residual_backward(dv, v_raw_, vr->v1, theta_.value, dv, vr->dv1, theta_.grad);
  } else if (vr && o_.value_residual && o_.layer == 1 && vr->dv1.defined()) {
    ops::axpy(1.f, vr->dv1, dv);  // what the later layers sent back to v1
  }
  if (positional_ && positional_->type() == Positional::Type::multiplicative) {
    positional_->apply_backward(ctx, q_, dq);
    positional_->apply_backward(ctx, k_, dk);
  }
  if (o_.qk_norm) {
    Tensor dq_pre = act({N * nh, d}), dk_pre = act({N * ng, d});
    ops::rmsnorm_backward(dq.view({N * nh, d}), q_pre_.view({N * nh, d}), q_norm_.value, rstd_q_,
                          dq_pre, q_norm_.grad);
    ops::rmsnorm_backward(dk.view({N * ng, d}), k_pre_.view({N * ng, d}), k_norm_.value, rstd_k_,
                          dk_pre, k_norm_.grad);
    dq = dq_pre, dk = dk_pre;
  }
  dq = dq.view({N, nh, d}), dk = dk.view({N, ng, d}), dv = dv.view({N, ng, d});
  if (o_.qkv_bias) {
    Tensor gq = Tensor::empty({1, nh, d}, DType::f32, device_);
    Tensor gk = Tensor::empty({1, ng, d}, DType::f32, device_);
    Tensor gv = Tensor::empty({1, ng, d}, DType::f32, device_);
    Tensor gqf = gq.view({nh * d}), gkf = gk.view({ng * d}), gvf = gv.view({ng * d});
    ops::bias_grad(dq.view({N, nh * d}), gqf, false);
    ops::bias_grad(dk.view({N, ng * d}), gkf, false);
    ops::bias_grad(dv.view({N, ng * d}), gvf, false);
    Tensor g = Tensor::empty({1, (nh + 2 * ng) * d}, DType::f32, device_);
    ops::qkv_merge(gq, gk, gv, g);
    ops::axpy(1.f, g.view({(nh + 2 * ng) * d}), qkv_bias_.grad);
  }
  Tensor dx = project_backward(x_, dq, dk, dv);
  x_ = q_pre_ = k_pre_ = rstd_q_ = rstd_k_ = q_ = k_ = v_raw_ = v_ = out_ = lse_ = Tensor();
  return dx;
}

void AttentionLayer::drop_saved() {
  x_ = q_pre_ = k_pre_ = rstd_q_ = rstd_k_ = q_ = k_ = v_raw_ = v_ = out_ = lse_ = Tensor();
  drop_projection();
  if (positional_) positional_->drop_saved();
}

// ---- decode ------------------------------------------------------------------------------

void AttentionLayer::add_bias(Tensor& x, int part) const {
  if (!o_.qkv_bias) return;
  const std::int64_t nh = o_.heads, ng = o_.groups, d = o_.head_dim;
  Tensor qb = Tensor::empty({1, nh, d}, DType::f32, device_);
  Tensor kb = Tensor::empty({1, ng, d}, DType::f32, device_);
  Tensor vb = Tensor::empty({1, ng, d}, DType::f32, device_);
  ops::qkv_split(qkv_bias_.value.view({1, -1}), qb, kb, vb);
  const Tensor& b = part == 0 ? qb : part == 1 ? kb : vb;
  Tensor xf = x.view({-1, b.numel()});
  ops::bias_add(xf, b.view({b.numel()}));
}

Tensor AttentionLayer::finish_keys(const Context& ctx, const Tensor& k) {
  Tensor out = k;
  if (o_.qk_norm) {
    const std::int64_t rows = k.numel() / o_.head_dim;
    out = act(k.shape());
    Tensor rstd = Tensor::empty({rows}, DType::f32, device_), on = out.view({rows, o_.head_dim});
    ops::rmsnorm_forward(k.view({rows, o_.head_dim}), k_norm_.value, float(o_.norm_eps), on, rstd);
  }
  if (positional_ && positional_->type() == Positional::Type::multiplicative)
    positional_->apply(ctx, out);
  return out;
}

Tensor AttentionLayer::mix_values(const Tensor& v, const Tensor& v1,
                                  const ValueResidualState* vr) const {
  if (!mixes_values(vr)) return v;
  if (!v1.defined())
    throw Error(o_.spec_name + " (layer " + std::to_string(o_.layer) +
                "): the value residual needs layer 1's values; run layer 1 first");
  Tensor out = act(v.shape());
  ops::value_residual_forward(v, v1, theta_.value, out);
  return out;
}

Tensor AttentionLayer::attend(const Tensor& q, const Tensor& k, const Tensor& v,
                              std::int64_t q_offset) const {
  Tensor out = act(q.shape());
  if (q_offset == 0 && k.size(1) == q.size(1)) {
    Tensor lse = Tensor::empty({q.size(0), q.size(2), q.size(1)}, DType::f32, device_);
    ops::attention_forward(q, k, v, core_args(), out, lse);
  } else {
    ops::attention_decode(q, k, v, core_args(), q_offset, out);
  }
  return out;
}

std::unique_ptr<AttentionCache> AttentionLayer::make_cache(std::int64_t batch,
                                                           std::int64_t max_len) const {
  if (batch <= 0 || max_len <= 0)
    throw Error(o_.spec_name + ": a decode cache needs batch and max_len > 0");
  auto c = std::make_unique<KvCache>();
  c->k = Tensor::zeros({batch, max_len, o_.groups, o_.head_dim}, act_dtype(), device_);
  c->v = Tensor::zeros({batch, max_len, o_.groups, o_.head_dim}, act_dtype(), device_);
  return c;
}

Tensor AttentionLayer::forward_cached(const Context& ctx, const Tensor& x, AttentionCache& cache,
                                      ValueResidualState* vr) {
  const std::int64_t B = ctx.batch, n = ctx.seq_len, N = B * n;
  const std::int64_t nh = o_.heads, ng = o_.groups, d = o_.head_dim;
  check_shape(x, {N, o_.hidden}, (o_.spec_name + ": x").c_str());
  check_dtype(x, act_dtype(), (o_.spec_name + ": x").c_str());
  Tensor q = act({N, nh, d}), k = act({N, ng, d}), v = act({N, ng, d});
  project(x, q, k, v);
  add_bias(q, 0);
  add_bias(k, 1);
  add_bias(v, 2);
  if (o_.qk_norm) {
    Tensor qn = act({N, nh, d}), rstd = Tensor::empty({N * nh}, DType::f32, device_);
    Tensor qf = qn.view({N * nh, d});
    ops::rmsnorm_forward(q.view({N * nh, d}), q_norm_.value, float(o_.norm_eps), qf, rstd);
    q = qn;
  }
  q = q.view({B, n, nh, d});
  if (positional_ && positional_->type() == Positional::Type::multiplicative)
    positional_->apply(ctx, q);
  const Tensor v_raw = v.view({B, n, ng, d});
  if (sets_v1(vr)) vr->v1 = v_raw;
  const Tensor out = attend_cached(ctx, q, k.view({B, n, ng, d}), v_raw, cache, vr);
  Tensor y = act({N, o_.hidden});
  linear(out.view({N, nh * d}), w_o_, y);
  if (o_.out_bias) ops::bias_add(y, b_o_.value);
  return y;
}

Tensor AttentionLayer::attend_cached(const Context& ctx, const Tensor& q, const Tensor& k,
                                     const Tensor& v, AttentionCache& cache,
                                     ValueResidualState* vr) {
  auto* c = dynamic_cast<KvCache*>(&cache);
  if (!c) throw Error(o_.spec_name + ": forward_cached got another layer kind's cache");
  const std::int64_t P = ctx.position, n = q.size(1), max_len = c->k.size(1);
  if (c->k.size(0) != q.size(0) || P < 0 || P + n > max_len)
    throw Error(o_.spec_name + ": " + std::to_string(n) + " tokens at position " +
                std::to_string(P) + " do not fit a cache of " + std::to_string(c->k.size(0)) +
                " sequences x " + std::to_string(max_len) + " tokens");
  const Tensor kf = finish_keys(ctx, k), vf = mix_values(v, vr ? vr->v1 : Tensor(), vr);
  copy_tokens(c->k, P, kf, 0, n);
  copy_tokens(c->v, P, vf, 0, n);
  // A prefill attends within its own tokens with the training kernel.
  if (P == 0) return attend(q, kf, vf, 0);
  return attend(q, c->k, c->v, P);
}

}  // namespace vpmoe::attention
