// f32 <-> bf16 (round to nearest even, dtype.h) and same-dtype copies.
#include <cstring>
#include <string>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {

void cast(const Tensor& src, Tensor& dst) {
  detail::check_defined(src, "cast: src");
  detail::check_defined(dst, "cast: dst");
  check_device(src, Device::cpu(), "cast: src");
  check_device(dst, Device::cpu(), "cast: dst");
  check_shape(dst, src.shape(), "cast: dst");
  std::int64_t n = src.numel();
  if (src.dtype() == dst.dtype()) {
    if (n && src.data() != dst.data()) std::memmove(dst.data(), src.data(), src.nbytes());
  } else if (src.dtype() == DType::f32 && dst.dtype() == DType::bf16) {
    const float* s = src.data_as<const float>();
    bf16* d = dst.data_as<bf16>();
    for (std::int64_t i = 0; i < n; ++i) d[i] = float_to_bf16(s[i]);
  } else if (src.dtype() == DType::bf16 && dst.dtype() == DType::f32) {
    const bf16* s = src.data_as<const bf16>();
    float* d = dst.data_as<float>();
    for (std::int64_t i = 0; i < n; ++i) d[i] = bf16_to_float(s[i]);
  } else {
    throw Error("cast: cannot cast " + src.str() + " to " + dst.str() +
                " (f32 <-> bf16 or equal dtypes only)");
  }
}

}  // namespace vpmoe::ops::cpu
