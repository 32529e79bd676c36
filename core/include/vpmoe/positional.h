#pragma once
#include "vpmoe/module.h"

namespace vpmoe {

// A positional encoding. Multiplicative ones rotate q/k in place; additive ones give the
// attention kernel a per-head distance bias -slope[h] * (i - j), never a T x T matrix.
class Positional : public Module {
 public:
  static constexpr const char* kind = "positional";
  enum class Type { multiplicative, additive, none };
  virtual Type type() const = 0;

  // Multiplicative: x [batch, seq, heads, head_dim] rotated in place at the absolute positions
  // ctx.position .. ctx.position + seq - 1 (decode rotates new tokens where they sit).
  virtual void apply(const Context& ctx, Tensor& x) { (void)ctx, (void)x; }
  // Backward of apply (training: ctx.position 0): dy -> dx in place. y is apply's output (what the
  // frequency grads need); learnable parameters get their grads accumulated.
  virtual void apply_backward(const Context& ctx, const Tensor& y, Tensor& dy) {
    (void)ctx, (void)y, (void)dy;
  }
  // Additive: slopes [heads] f32 on the module's device. The bias depends on the query-key
  // distance only, so decode needs nothing more.
  virtual Tensor slopes() const { return {}; }
};

}  // namespace vpmoe
