// Reductions to a one-element f32 tensor, accumulated in double.
#include <cmath>
#include <limits>
#include <string>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {
namespace {

void check_out(const Tensor& out, const char* op) {
  detail::check_f32(out, std::string(op) + ": out");
  detail::check_numel(out, 1, std::string(op) + ": out must have one element");
}

}  // namespace

void sum(const Tensor& x, Tensor& out) {
  detail::check_f32(x, "sum: x");
  check_out(out, "sum");
  const float* p = x.data_as<const float>();
  double s = 0;
  for (std::int64_t i = 0, n = x.numel(); i < n; ++i) s += p[i];
  *out.data_as<float>() = float(s);
}

// NaN anywhere gives NaN (a poisoned input must not hide behind a larger value).
void max(const Tensor& x, Tensor& out) {
  detail::check_f32(x, "max: x");
  check_out(out, "max");
  if (x.numel() == 0) throw Error("max: empty tensor " + x.str());
  const float* p = x.data_as<const float>();
  float m = -std::numeric_limits<float>::infinity();
  for (std::int64_t i = 0, n = x.numel(); i < n; ++i) {
    if (std::isnan(p[i])) {
      m = p[i];
      break;
    }
    m = p[i] > m ? p[i] : m;
  }
  *out.data_as<float>() = m;
}

void global_l2_norm(std::span<const Tensor> tensors, Tensor& out) {
  check_out(out, "global_l2_norm");
  double ss = 0;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const Tensor& t = tensors[k];
    detail::check_f32(t, "global_l2_norm: tensor " + std::to_string(k));
    const float* p = t.data_as<const float>();
    for (std::int64_t i = 0, n = t.numel(); i < n; ++i) ss += double(p[i]) * p[i];
  }
  *out.data_as<float>() = float(std::sqrt(ss));
}

}  // namespace vpmoe::ops::cpu
