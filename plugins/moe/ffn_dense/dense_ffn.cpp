#include "dense_ffn.h"

#include <cmath>

#include "vpmoe/config.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::ffn {

DenseFfn::DenseFfn(DenseOptions o, Device device) : o_(std::move(o)), device_(device) {
  if (o_.hidden <= 0 || o_.width <= 0)
    throw Error("ffn.dense: hidden and width must be positive, got " + std::to_string(o_.hidden) +
                " and " + std::to_string(o_.width));
  auto weight = [&](const std::string& name, Shape s, double std) {
    Parameter p =
        Parameter::make(o_.prefix + "." + name, std::move(s), ParamRole::matrix, device, o_.bf16);
    ops::init_normal(p.value, 0.f, float(std), parameter_seed(o_.seed, p.name));
    p.sync_compute();
    return p;
  };
  w1_ = weight("w1", {o_.width, o_.hidden}, o_.init_std);
  w2_ = weight("w2", {o_.hidden, o_.width}, o_.init_std / std::sqrt(2.0 * o_.num_layers));
  if (o_.bias) {
    b1_ = Parameter::make(o_.prefix + ".b1", {o_.width}, ParamRole::bias, device);
    b2_ = Parameter::make(o_.prefix + ".b2", {o_.hidden}, ParamRole::bias, device);
    b1_.weight_decay = b2_.weight_decay = false;
  }
}

std::vector<Parameter*> DenseFfn::parameters() {
  if (o_.bias) return {&w1_, &b1_, &w2_, &b2_};
  return {&w1_, &w2_};
}

double DenseFfn::flops_per_token(std::int64_t) const {
  return 2.0 * 2.0 * double(o_.hidden) * o_.width;
}

Tensor DenseFfn::forward(const Context& ctx, const Tensor& x) {
  const std::int64_t N = ctx.batch * ctx.seq_len;
  const DType dt = o_.bf16 ? DType::bf16 : DType::f32;
  check_shape(x, {N, o_.hidden}, "ffn.dense: x");
  check_dtype(x, dt, "ffn.dense: x");
  x_ = x;
  h_ = Tensor::empty({N, o_.width}, dt, device_);
  ops::gemm(x, w1_.compute, h_, false, true);
  if (o_.bias) ops::bias_add(h_, b1_.value);
  a_ = Tensor::empty({N, o_.width}, dt, device_);
  ops::squared_relu(h_, a_);
  Tensor y = Tensor::empty({N, o_.hidden}, dt, device_);
  ops::gemm(a_, w2_.compute, y, false, true);
  if (o_.bias) ops::bias_add(y, b2_.value);
  return y;
}

Tensor DenseFfn::backward(const Context& ctx, const Tensor& dy) {
  const std::int64_t N = ctx.batch * ctx.seq_len;
  if (!a_.defined()) throw Error("ffn.dense: backward before forward");
  check_shape(dy, {N, o_.hidden}, "ffn.dense: dy");
  const DType dt = a_.dtype();
  if (o_.bias) ops::bias_grad(dy, b2_.grad, true);
  ops::gemm(dy, a_, w2_.grad, true, false, 1.f, 1.f);
  Tensor da = Tensor::empty({N, o_.width}, dt, device_);
  ops::gemm(dy, w2_.compute, da);
  ops::squared_relu_backward(h_, da, da);  // dh, in place
  if (o_.bias) ops::bias_grad(da, b1_.grad, true);
  ops::gemm(da, x_, w1_.grad, true, false, 1.f, 1.f);
  Tensor dx = Tensor::empty({N, o_.hidden}, dt, device_);
  ops::gemm(da, w1_.compute, dx);
  x_ = h_ = a_ = Tensor();
  return dx;
}

std::unique_ptr<FeedForward> build(const BuildArgs& args) {
  if (!args.config) throw Error("ffn.dense needs the run configuration");
  const Config& c = *args.config;
  if (c.model.gated_linear_unit)
    c.fail("model.gated_linear_unit", "ffn.dense is non-gated (vpMoE's FFNs); found true");
  if (c.model.activation != "squaredrelu")
    c.fail("model.activation",
           "ffn.dense implements squaredrelu (vpMoE's activation), found " + c.model.activation);
  DenseOptions o;
  o.hidden = c.model.hidden_size;
  o.bias = c.model.add_bias_linear;
  o.num_layers = args.layer.num_layers;
  o.init_std = c.train.init_method_std;
  o.seed = args.seed;
  o.bf16 = args.bf16_compute && args.device.is_cuda();
  const int l = args.layer.layer;
  if (c.layer_is_moe(l)) {
    o.width = c.moe.shared_expert_size;
    o.prefix = "layers." + std::to_string(l) + ".moe.shared_expert";
    if (o.width <= 0)
      c.fail("moe.shared_expert_size",
             "the shared expert needs a width > 0, found " + std::to_string(o.width));
  } else {
    o.width = c.model.ffn_hidden_size;
    o.prefix = "layers." + std::to_string(l) + ".ffn";
    if (o.width <= 0)
      c.fail("model.ffn_hidden_size", "expected a width > 0, found " + std::to_string(o.width));
  }
  return std::make_unique<DenseFfn>(o, args.device);
}

}  // namespace vpmoe::ffn
