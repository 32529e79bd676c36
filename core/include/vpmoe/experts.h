#pragma once
#include <cstdint>
#include <span>

#include "vpmoe/module.h"

namespace vpmoe {

// All routed experts of a layer as one grouped computation over expert-sorted rows.
class Experts : public Module {
 public:
  static constexpr const char* kind = "moe.experts";
  virtual int num_experts() const = 0;
  // x [M, H] rows grouped by expert (rows[e] each) -> y [M, H].
  virtual Tensor forward(const Context& ctx, const Tensor& x,
                         std::span<const std::int64_t> rows) = 0;
  virtual Tensor backward(const Context& ctx, const Tensor& dy) = 0;
};

}  // namespace vpmoe
