#pragma once
// Shape checks shared by the CPU and CUDA fused-QKV and value-residual ops.
#include <cstdint>
#include <string>

#include "vpmoe/error.h"
#include "vpmoe/tensor.h"

namespace vpmoe::ops::detail {

struct QkvDims {
  std::int64_t rows, nh, ng, d;
};

inline QkvDims qkv_dims(const Tensor& qkv, const Tensor& q, const Tensor& k, const Tensor& v,
                        const char* op) {
  const std::string o(op);
  VPMOE_CHECK(
      q.ndim() == 3 && k.ndim() == 3,
      o + ": q must be [rows, nh, d] and k, v [rows, ng, d], got " + q.str() + ", " + k.str());
  const QkvDims d{q.size(0), q.size(1), k.size(1), q.size(2)};
  VPMOE_CHECK(k.size(0) == d.rows && k.size(2) == d.d && d.ng > 0 && d.nh % d.ng == 0,
              o + ": k must be [rows, ng, d] with ng dividing nh: q " + q.str() + ", k " + k.str());
  check_shape(v, k.shape(), (o + ": v").c_str());
  VPMOE_CHECK(
      qkv.numel() == d.rows * (d.nh + 2 * d.ng) * d.d,
      o + ": qkv must hold rows * (nh + 2 ng) * d elements: " + qkv.str() + " for q " + q.str());
  VPMOE_CHECK(q.dtype() == qkv.dtype() && k.dtype() == qkv.dtype() && v.dtype() == qkv.dtype(),
              o + ": qkv, q, k, v must share a dtype");
  return d;
}

inline void value_residual_check(const Tensor& v, const Tensor& v1, const Tensor& theta,
                                 const Tensor& out, const char* op) {
  const std::string o(op);
  check_shape(v1, v.shape(), (o + ": v1").c_str());
  check_shape(out, v.shape(), (o + ": out").c_str());
  VPMOE_CHECK(v1.dtype() == v.dtype() && out.dtype() == v.dtype(),
              o + ": v, v1 and the output must share a dtype");
  check_dtype(theta, DType::f32, (o + ": theta").c_str());
  VPMOE_CHECK(theta.numel() == 1, o + ": theta must hold one element, got " + theta.str());
}

}  // namespace vpmoe::ops::detail
