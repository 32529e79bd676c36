// Bias add over the last dim and its gradient (column sums accumulated in double).
#include <string>
#include <vector>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {

using detail::check_f32;
using detail::check_numel;
using detail::cols_of;
using detail::rows_of;

void bias_add(Tensor& x, const Tensor& bias) {
  check_f32(x, "bias_add: x");
  check_f32(bias, "bias_add: bias");
  if (x.ndim() < 1) throw Error("bias_add: x needs a last dim, got " + x.str());
  std::int64_t C = cols_of(x), R = rows_of(x);
  check_numel(bias, C, "bias_add: bias must be [C] for x " + x.str());
  float* px = x.data_as<float>();
  const float* pb = bias.data_as<const float>();
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t c = 0; c < C; ++c) px[r * C + c] += pb[c];
}

void bias_grad(const Tensor& dy, Tensor& dbias, bool accumulate) {
  check_f32(dy, "bias_grad: dy");
  check_f32(dbias, "bias_grad: dbias");
  if (dy.ndim() < 1) throw Error("bias_grad: dy needs a last dim, got " + dy.str());
  std::int64_t C = cols_of(dy), R = rows_of(dy);
  check_numel(dbias, C, "bias_grad: dbias must be [C] for dy " + dy.str());
  const float* pdy = dy.data_as<const float>();
  float* pdb = dbias.data_as<float>();
  std::vector<double> acc(static_cast<std::size_t>(C), 0.0);
  for (std::int64_t r = 0; r < R; ++r)
    for (std::int64_t c = 0; c < C; ++c) acc[c] += pdy[r * C + c];
  for (std::int64_t c = 0; c < C; ++c) pdb[c] = float((accumulate ? pdb[c] : 0.0) + acc[c]);
}

}  // namespace vpmoe::ops::cpu
