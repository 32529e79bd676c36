// Bias add and gradient per consecutive row group (one bias row per MoE expert).
#include <string>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {
namespace {

// Checks [M, C] against [G, C] and the row counts; returns C.
std::int64_t check_groups(const Tensor& x, const Tensor& b, std::span<const std::int64_t> rows,
                          const char* op) {
  if (x.ndim() != 2 || b.ndim() != 2 || b.size(1) != x.size(1) ||
      b.size(0) != std::int64_t(rows.size()))
    throw Error(std::string(op) +
                ": expected rows [M, C] and biases [G, C] with G row counts, got " + x.str() +
                ", " + b.str() + " and " + std::to_string(rows.size()) + " counts");
  std::int64_t total = 0;
  for (std::int64_t r : rows) {
    if (r < 0) throw Error(std::string(op) + ": negative row count");
    total += r;
  }
  if (total != x.size(0))
    throw Error(std::string(op) + ": row counts sum to " + std::to_string(total) + ", x has " +
                std::to_string(x.size(0)) + " rows");
  return x.size(1);
}

}  // namespace

void bias_add_grouped(Tensor& x, const Tensor& bias, std::span<const std::int64_t> rows) {
  detail::check_f32(x, "bias_add_grouped: x");
  detail::check_f32(bias, "bias_add_grouped: bias");
  const std::int64_t C = check_groups(x, bias, rows, "bias_add_grouped");
  float* px = x.data_as<float>();
  const float* pb = bias.data_as<const float>();
  std::int64_t r0 = 0;
  for (std::size_t g = 0; g < rows.size(); ++g) {
    for (std::int64_t r = r0; r < r0 + rows[g]; ++r)
      for (std::int64_t c = 0; c < C; ++c) px[r * C + c] += pb[std::int64_t(g) * C + c];
    r0 += rows[g];
  }
}

void bias_grad_grouped(const Tensor& dy, std::span<const std::int64_t> rows, Tensor& dbias,
                       bool accumulate) {
  detail::check_f32(dy, "bias_grad_grouped: dy");
  detail::check_f32(dbias, "bias_grad_grouped: dbias");
  const std::int64_t C = check_groups(dy, dbias, rows, "bias_grad_grouped");
  const float* pd = dy.data_as<const float>();
  float* pb = dbias.data_as<float>();
  std::int64_t r0 = 0;
  for (std::size_t g = 0; g < rows.size(); ++g) {
    float* b = pb + std::int64_t(g) * C;
    for (std::int64_t c = 0; c < C; ++c) {
      float acc = accumulate ? b[c] : 0.f;
      for (std::int64_t r = r0; r < r0 + rows[g]; ++r) acc += pd[r * C + c];
      b[c] = acc;
    }
    r0 += rows[g];
  }
}

}  // namespace vpmoe::ops::cpu
