// Row argmax over a column prefix: first index on ties, NaN never wins (ops/cuda/argmax.cu
// keeps the same rules, so both give the same index).
#include <limits>
#include <string>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {

void argmax_rows(const Tensor& x, std::int64_t cols, Tensor& out) {
  detail::check_f32(x, "argmax_rows: x");
  detail::check_cpu(out, DType::i32, "argmax_rows: out");
  if (x.ndim() != 2) throw Error("argmax_rows: x must be [N, V], got " + x.str());
  const std::int64_t N = x.size(0), V = x.size(1);
  if (cols <= 0 || cols > V)
    throw Error("argmax_rows: cols " + std::to_string(cols) + " outside 1.." + std::to_string(V) +
                " (x " + x.str() + ")");
  detail::check_numel(out, N, "argmax_rows: out");
  const float* p = x.data_as<const float>();
  std::int32_t* o = out.data_as<std::int32_t>();
  detail::parallel_for(N, cols, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const float* row = p + r * V;
      float best = -std::numeric_limits<float>::infinity();
      std::int64_t at = -1;
      for (std::int64_t c = 0; c < cols; ++c)
        if (row[c] > best || (at < 0 && row[c] == best)) best = row[c], at = c;
      o[r] = std::int32_t(at < 0 ? 0 : at);
    }
  });
}

}  // namespace vpmoe::ops::cpu
