#include "model/gpt_model.h"

#include "device/host_profile.h"
#include "device/run_ahead.h"
#include "model/state_prefix.h"

#include "vpmoe/error.h"

namespace vpmoe::model {

GptModel::GptModel(GptOptions o, std::vector<std::unique_ptr<TransformerLayer>> layers)
    : o_(o), layers_(std::move(layers)) {
  if (o_.vocab <= 0 || o_.hidden <= 0) throw Error("gpt model: vocab and hidden must be > 0");
  const bool bf16 = o_.bf16 && o_.device.is_cuda();
  embedding_ = Parameter::make("embedding.word_embeddings", {o_.vocab, o_.hidden},
                               ParamRole::embedding, o_.device, bf16);
  final_norm_ = Parameter::make("final_norm", {o_.hidden}, ParamRole::norm, o_.device);
  output_ =
      Parameter::make("output_layer", {o_.vocab, o_.hidden}, ParamRole::output, o_.device, bf16);
  for (Parameter* p : {&embedding_, &output_}) {
    ops::init_normal(p->value, 0.f, float(o_.init_std), parameter_seed(o_.seed, p->name));
    p->sync_compute();
  }
  ops::fill(final_norm_.value, 1.f);
  set_recompute(o_.recompute);
}

void GptModel::set_recompute(Recompute r) {
  o_.recompute = r;
  for (auto& l : layers_) l->set_recompute(r);
}

std::vector<Parameter*> GptModel::parameters() {
  std::vector<Parameter*> ps{&embedding_};
  for (auto& l : layers_)
    for (Parameter* p : l->parameters()) ps.push_back(p);
  ps.push_back(&final_norm_);
  ps.push_back(&output_);
  return ps;
}

std::vector<std::vector<Parameter*>> GptModel::backward_stages() {
  std::vector<std::vector<Parameter*>> stages{{&output_, &final_norm_}};
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it)
    stages.push_back((*it)->parameters());
  stages.push_back({&embedding_});
  return stages;
}

double GptModel::flops_per_token(std::int64_t seq_len) const {
  double f = 2.0 * double(o_.vocab) * double(o_.hidden);
  for (const auto& l : layers_) f += l->flops_per_token(seq_len);
  return f;
}

double GptModel::aux_loss() const {
  double a = 0;
  for (const auto& l : layers_) a += l->ffn().aux_loss();
  return a;
}

ops::CrossEntropyStats GptModel::run(const Context& ctx, const Tensor& ids, const Tensor& targets,
                                     const Tensor& mask, float grad_scale, bool backward) {
  return run_impl(ctx, ids, targets, backward, [&](const Tensor& h, Tensor* dh, Tensor* dw) {
    return ops::linear_cross_entropy(h, output_.compute, targets, mask, dh ? grad_scale : 0.f, dh,
                                     dw);
  });
}

ops::CrossEntropyStats GptModel::run_weighted(const Context& ctx, const Tensor& ids,
                                              const Tensor& targets, std::span<const float> weight,
                                              float grad_scale, bool backward,
                                              std::vector<float>* row_loss) {
  return run_impl(ctx, ids, targets, backward, [&](const Tensor& h, Tensor* dh, Tensor* dw) {
    return ops::linear_cross_entropy_weighted(h, output_.compute, targets, weight,
                                              dh ? grad_scale : 0.f, dh, dw, row_loss);
  });
}

GptModel::Stack GptModel::forward_stack(const Context& ctx, const Tensor& ids,
                                        ValueResidualState& vr, RunAhead& ahead) {
  const std::int64_t N = ctx.batch * ctx.seq_len;
  check_shape(ids, {N}, "gpt model: ids");
  const DType act = embedding_.compute.dtype();
  Stack s;
  s.x = Tensor::empty({N, o_.hidden}, act, o_.device);
  ops::embedding_forward(ids, embedding_.compute, s.x);
  for (auto& l : layers_) {
    s.x = l->forward(ctx, s.x, &vr);
    ahead.mark();
  }
  s.h = Tensor::empty(s.x.shape(), act, o_.device);
  s.rstd = Tensor::empty({N}, DType::f32, o_.device);
  ops::rmsnorm_forward(s.x, final_norm_.value, float(o_.eps), s.h, s.rstd);
  return s;
}

ops::CrossEntropyStats GptModel::run_impl(const Context& ctx, const Tensor& ids,
                                          const Tensor& targets, bool backward, const Head& head) {
  check_shape(targets, {ctx.batch * ctx.seq_len}, "gpt model: targets");
  const DType act = embedding_.compute.dtype();
  ValueResidualState vr;
  RunAhead ahead(o_.device, kLayersAhead);
  auto [x, h, rstd] = forward_stack(ctx, ids, vr, ahead);
  if (!backward) return head(h, nullptr, nullptr);
  Tensor dh = Tensor::empty(h.shape(), act, o_.device);
  ops::CrossEntropyStats st;
  {
    VPMOE_HOST_SCOPE("lm head + loss");
    st = head(h, &dh, &output_.grad);
  }
  Tensor dx = Tensor::empty(x.shape(), act, o_.device);
  ops::rmsnorm_backward(dh, x, final_norm_.value, rstd, dx, final_norm_.grad);
  int stage = 0;
  if (hook_) hook_(stage);
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    dx = (*it)->backward(ctx, dx, &vr);
    ahead.mark();
    if (hook_) hook_(++stage);
  }
  ops::embedding_backward(ids, ops::cast_to(dx, DType::f32), embedding_.grad);
  if (hook_) hook_(++stage);
  return st;
}

std::map<std::string, Tensor> GptModel::state() const {
  StateMap out;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const std::string p = "layers." + std::to_string(l + 1) + ".";
    add_prefixed(out, p + "attention.", layers_[l]->attention().state());
    add_prefixed(out, p + "ffn.", layers_[l]->ffn().state());
  }
  return out;
}

void GptModel::load_state(const std::map<std::string, Tensor>& state) {
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const std::string p = "layers." + std::to_string(l + 1) + ".";
    layers_[l]->attention().load_state(take_prefixed(state, p + "attention."));
    layers_[l]->ffn().load_state(take_prefixed(state, p + "ffn."));
  }
}

}  // namespace vpmoe::model
