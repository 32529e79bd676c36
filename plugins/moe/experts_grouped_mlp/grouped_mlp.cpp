#include "grouped_mlp.h"

#include <cmath>

#include "vpmoe/config.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"
#include "vpmoe/parallel.h"

namespace vpmoe::experts {

GroupedMlp::GroupedMlp(GroupedMlpOptions o, Device device) : o_(std::move(o)), device_(device) {
  if (o_.experts <= 0 || o_.hidden <= 0 || o_.width <= 0)
    throw Error("moe.experts.grouped_mlp: experts, hidden and width must be positive");
  if (o_.first < 0) throw Error("moe.experts.grouped_mlp: negative first expert");
  const std::int64_t E = o_.experts, H = o_.hidden, F = o_.width;
  auto weight = [&](const std::string& name, Shape s, double std) {
    Parameter p = Parameter::make(o_.prefix + "." + name, std::move(s), ParamRole::expert_matrix,
                                  device, o_.bf16);
    p.sharding = Sharding::expert;
    // The random stream continues where the previous ranks' experts end: a shard holds exactly
    // the rows one process would build.
    const auto offset = std::uint64_t(o_.first) * std::uint64_t(F * H);
    ops::init_normal(p.value, 0.f, float(std), parameter_seed(o_.seed, p.name), offset);
    p.sync_compute();
    return p;
  };
  w1_ = weight("w1", {E, F, H}, o_.init_std);
  w2_ = weight("w2", {E, H, F}, o_.init_std / std::sqrt(2.0 * o_.num_layers));
  if (o_.bias) {
    b1_ = Parameter::make(o_.prefix + ".b1", {E, F}, ParamRole::bias, device);
    b2_ = Parameter::make(o_.prefix + ".b2", {E, H}, ParamRole::bias, device);
    b1_.sharding = b2_.sharding = Sharding::expert;
    b1_.weight_decay = b2_.weight_decay = false;
  }
}

std::vector<Parameter*> GroupedMlp::parameters() {
  if (o_.bias) return {&w1_, &b1_, &w2_, &b2_};
  return {&w1_, &w2_};
}

double GroupedMlp::flops_per_token(std::int64_t) const {
  return 2.0 * 2.0 * double(o_.width) * o_.hidden;
}

Tensor GroupedMlp::forward(const Context&, const Tensor& x, std::span<const std::int64_t> rows) {
  const std::int64_t E = o_.experts, H = o_.hidden, F = o_.width;
  if (std::int64_t(rows.size()) != E)
    throw Error("moe.experts.grouped_mlp: expected " + std::to_string(E) + " row counts, got " +
                std::to_string(rows.size()));
  std::int64_t M = 0;
  for (std::int64_t e = 0; e < E; ++e) {
    if (rows[std::size_t(e)] < 0) throw Error("moe.experts.grouped_mlp: negative row count");
    M += rows[std::size_t(e)];
  }
  const DType dt = o_.bf16 ? DType::bf16 : DType::f32;
  check_shape(x, {M, H}, "moe.experts.grouped_mlp: x");
  check_dtype(x, dt, "moe.experts.grouped_mlp: x");
  rows_.assign(rows.begin(), rows.end());
  x_ = x;
  h_ = Tensor::empty({M, F}, dt, device_);
  ops::gemm_grouped(x, w1_.compute, h_, rows_, /*trans_b=*/true);
  if (o_.bias) ops::bias_add_grouped(h_, b1_.value, rows_);
  a_ = Tensor::empty({M, F}, dt, device_);
  ops::squared_relu(h_, a_);
  Tensor y = Tensor::empty({M, H}, dt, device_);
  ops::gemm_grouped(a_, w2_.compute, y, rows_, /*trans_b=*/true);
  if (o_.bias) ops::bias_add_grouped(y, b2_.value, rows_);
  return y;
}

Tensor GroupedMlp::backward(const Context&, const Tensor& dy) {
  if (!a_.defined()) throw Error("moe.experts.grouped_mlp: backward before forward");
  const std::int64_t M = a_.size(0), H = o_.hidden, F = o_.width;
  check_shape(dy, {M, H}, "moe.experts.grouped_mlp: dy");
  const DType dt = a_.dtype();
  auto bias_grad = [&](const Tensor& d, Parameter& b) {
    if (o_.bias) ops::bias_grad_grouped(d, rows_, b.grad, true);
  };
  bias_grad(dy, b2_);
  ops::gemm_grouped_wgrad(dy, a_, w2_.grad, rows_, 1.f, 1.f);
  Tensor da = Tensor::empty({M, F}, dt, device_);
  ops::gemm_grouped(dy, w2_.compute, da, rows_);
  ops::squared_relu_backward(h_, da, da);
  bias_grad(da, b1_);
  ops::gemm_grouped_wgrad(da, x_, w1_.grad, rows_, 1.f, 1.f);
  Tensor dx = Tensor::empty({M, H}, dt, device_);
  ops::gemm_grouped(da, w1_.compute, dx, rows_);
  x_ = h_ = a_ = Tensor();
  return dx;
}

void GroupedMlp::drop_saved() {
  x_ = h_ = a_ = Tensor();
  rows_.clear();
}

std::unique_ptr<Experts> build(const BuildArgs& args) {
  if (!args.config) throw Error("moe.experts.grouped_mlp needs the run configuration");
  const Config& c = *args.config;
  if (c.model.gated_linear_unit)
    c.fail("model.gated_linear_unit", "moe.experts.grouped_mlp is non-gated; found true");
  if (c.model.activation != "squaredrelu")
    c.fail("model.activation",
           "moe.experts.grouped_mlp implements squaredrelu, found " + c.model.activation);
  GroupedMlpOptions o;
  o.experts = c.moe.num_experts;
  o.hidden = c.model.hidden_size;
  o.width = c.model.ffn_hidden_size;
  if (o.experts <= 0) c.fail("moe.num_experts", "expected experts > 0");
  if (args.parallel && args.parallel->layout.ep > 1) {
    const ParallelLayout& l = args.parallel->layout;
    if (o.experts % l.ep != 0)
      c.fail("parallel.expert_model_parallel_size", "expected a divisor of num_experts (" +
                                                        std::to_string(o.experts) + "), found " +
                                                        std::to_string(l.ep));
    o.first = l.first_expert(o.experts);
    o.experts = l.experts_per_rank(o.experts);
  }
  if (o.width <= 0) c.fail("model.ffn_hidden_size", "expected a width > 0");
  o.bias = c.model.add_bias_linear;
  o.num_layers = args.layer.num_layers;
  o.init_std = c.train.init_method_std;
  o.seed = args.seed;
  o.bf16 = args.bf16_compute && args.device.is_cuda();
  o.prefix = "layers." + std::to_string(args.layer.layer) + ".moe.experts";
  return std::make_unique<GroupedMlp>(o, args.device);
}

}  // namespace vpmoe::experts
