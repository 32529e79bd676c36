#include "rotary_positional.h"

#include <cmath>

#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::rotary {

RotaryPositional::RotaryPositional(const RotaryOptions& o, Device device) : o_(o), device_(device) {
  if (o.head_dim <= 0 || o.head_dim % 2 != 0)
    throw Error(o.spec_name + ": head_dim must be even and positive, found " +
                std::to_string(o.head_dim));
  if (!(o.log_freq_scale > 0)) throw Error(o.spec_name + ": the log-frequency scale must be > 0");
  const int half = o.head_dim / 2;
  const Shape shape = o.per_head ? Shape{o.heads, half} : Shape{half};
  phi_ = Parameter::make(o.name_prefix + ".log_freq", shape, ParamRole::vector, device);
  phi_.weight_decay = false;
  // phi_m = c * log(base^(-2m/d)): RoPE's inverse frequencies, c times their log.
  std::vector<float> init(static_cast<std::size_t>(shape_numel(shape)));
  for (std::size_t i = 0; i < init.size(); ++i) {
    const double m = double(i % std::size_t(half));
    init[i] = float(o.log_freq_scale * std::log(std::pow(kRotaryBase, -2.0 * m / o.head_dim)));
  }
  phi_.value.copy_from(Tensor::from_floats(init, shape, DType::f32));
}

std::vector<Parameter*> RotaryPositional::parameters() {
  if (!o_.learnable) return {};
  return {&phi_};
}

// Rotating q and k costs ~6 flops per pair (2 products each side, sin/cos amortised): ~6 d
// per head per token, for the query and the key heads.
double RotaryPositional::flops_per_token(std::int64_t) const {
  return 6.0 * o_.head_dim * (o_.heads + o_.kv_heads) / 2.0;
}

Tensor RotaryPositional::frequencies() const {
  // Computed in double on the host from the fp32 phi: 64 values, and the same bits whichever
  // device the module lives on.
  std::vector<float> phi = phi_.value.to_floats();
  for (float& p : phi) p = float(std::exp(double(p) / o_.log_freq_scale));
  return Tensor::from_floats(phi, phi_.value.shape(), DType::f32, device_);
}

void RotaryPositional::apply(const Context& ctx, Tensor& x) {
  if (o_.per_head && x.ndim() == 4 && x.size(2) != o_.heads)
    throw Error(o_.spec_name + ": per-head frequencies need x with " + std::to_string(o_.heads) +
                " heads, got " + x.str());
  ops::rotary(x, frequencies(), /*inverse=*/false, ctx.position);
}

void RotaryPositional::apply_backward(const Context& ctx, const Tensor& y, Tensor& dy) {
  if (ctx.position != 0)
    throw Error(o_.spec_name + ": the backward is for training, at position 0 (got " +
                std::to_string(ctx.position) + ")");
  const Tensor omega = frequencies();
  if (o_.learnable) {
    // dL/dphi = dL/domega * omega / c (the frequency grads use y and dy before dy turns).
    Tensor domega = Tensor::zeros(omega.shape(), DType::f32, device_);
    ops::rotary_omega_grad(y, dy, domega);
    ops::mul(domega, omega, domega);
    ops::axpy(float(1.0 / o_.log_freq_scale), domega, phi_.grad);
  }
  ops::rotary(dy, omega, /*inverse=*/true);
}

namespace {

RotaryOptions options_from(const BuildArgs& args, const char* spec, bool learnable_default) {
  if (!args.config) throw Error(std::string(spec) + " needs the run configuration");
  const Config& c = *args.config;
  RotaryOptions o;
  o.spec_name = spec;
  o.head_dim = c.model.head_dim;
  o.heads = c.model.num_attention_heads;
  o.kv_heads = c.model.num_query_groups;
  o.name_prefix = "layers." + std::to_string(args.layer.layer) + ".positional";
  if (o.head_dim <= 0 || o.head_dim % 2 != 0)
    c.fail("model.head_dim", std::string(spec) +
                                 " rotates pairs of dims: head_dim must be even, "
                                 "found " +
                                 std::to_string(o.head_dim));
  o.learnable = learnable_default;
  return o;
}

}  // namespace

std::unique_ptr<Positional> build_grape_m(const BuildArgs& args) {
  RotaryOptions o = options_from(args, "positional.grape_m", true);
  const GrapeConfig& g = args.config->grape;
  o.learnable = g.grapem_learnable_freq;
  o.per_head = !g.grapem_share_across_heads;
  o.log_freq_scale = g.grapem_log_freq_scale;
  if (!(o.log_freq_scale > 0))
    args.config->fail("grape.grapem_log_freq_scale",
                      "expected a scale > 0, found " + std::to_string(o.log_freq_scale));
  return std::make_unique<RotaryPositional>(o, args.device);
}

std::unique_ptr<Positional> build_rope(const BuildArgs& args) {
  return std::make_unique<RotaryPositional>(options_from(args, "positional.rope", false),
                                            args.device);
}

}  // namespace vpmoe::rotary
