#pragma once
// Multiplicative rotary encodings (spec/positional.md): GRAPE-M with log-frequencies
// phi (omega = exp(phi / c)) shared by the heads or one row per head, and RoPE, which is the
// same module with phi frozen at RoPE's inverse frequencies.
#include <memory>
#include <optional>

#include "vpmoe/config.h"
#include "vpmoe/positional.h"
#include "vpmoe/registry.h"

namespace vpmoe::rotary {

inline constexpr double kRotaryBase = 10000.0;  // vpMoE's rotary_base (its configs never change it)

struct RotaryOptions {
  std::string spec_name;  // "positional.grape_m" or "positional.rope"
  int head_dim = 128;     // rotated dims (rotary fraction 1.0)
  int heads = 8;          // rows of phi when not shared; flops accounting
  int kv_heads = 2;       // flops accounting
  bool learnable = true;  // phi is a parameter with a gradient
  bool per_head = false;  // phi [heads, D/2] instead of [D/2]
  double log_freq_scale = 16.0;
  std::string name_prefix;  // parameter names, e.g. "layers.3.positional"
};

class RotaryPositional final : public Positional {
 public:
  RotaryPositional(const RotaryOptions& o, Device device);

  Type type() const override { return Type::multiplicative; }
  std::string spec_name() const override { return o_.spec_name; }
  std::vector<Parameter*> parameters() override;
  double flops_per_token(std::int64_t seq_len) const override;

  void apply(const Context& ctx, Tensor& x) override;
  void apply_backward(const Context& ctx, const Tensor& y, Tensor& dy) override;

  // omega = exp(phi / c), f32 on the module's device: what the rotation uses.
  Tensor frequencies() const;
  const Parameter& log_frequencies() const { return phi_; }
  Parameter& log_frequencies() { return phi_; }

 private:
  RotaryOptions o_;
  Device device_;
  Parameter phi_;
};

// Builders from run.toml ([model] head_dim / heads / groups, [grape]); errors name the key.
std::unique_ptr<Positional> build_grape_m(const BuildArgs& args);
std::unique_ptr<Positional> build_rope(const BuildArgs& args);

}  // namespace vpmoe::rotary
