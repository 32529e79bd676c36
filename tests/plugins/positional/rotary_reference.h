#pragma once
// Shared by the rotary positional tests: the module built from a run configuration, and the
// rotation in double precision as spec/positional.md writes it.
#include <cmath>
#include <string>

#include "core/ops_cpu/cpu_test_util.h"
#include "rotary_positional.h"
#include "vpmoe/config.h"

namespace vpmoe::testing {

inline Config rotary_config(const std::string& extra_toml = "") {
  return parse_config(
      "[model]\nnum_layers = 4\nhidden_size = 32\nhead_dim = 8\nnum_attention_heads = 4\n"
      "num_query_groups = 2\n" +
          extra_toml,
      "run.toml");
}

// y = rotate(x) for x [B, T, H, D] by t * omega, omega [D/2] or [H * D/2].
inline Vec rotate_ref(const Vec& x, const Vec& omega, std::int64_t T, std::int64_t H,
                      std::int64_t D) {
  Vec y(x.size());
  const std::int64_t half = D / 2, per_head = std::int64_t(omega.size()) / half > 1;
  for (std::size_t v = 0; v < x.size() / std::size_t(D); ++v) {
    const std::int64_t t = std::int64_t(v) / H % T, h = std::int64_t(v) % H;
    for (std::int64_t m = 0; m < half; ++m) {
      const double th = double(t) * omega[std::size_t((per_head ? h * half : 0) + m)];
      const double a = x[v * D + m], b = x[v * D + m + half];
      y[v * D + m] = a * std::cos(th) - b * std::sin(th);
      y[v * D + m + half] = b * std::cos(th) + a * std::sin(th);
    }
  }
  return y;
}

}  // namespace vpmoe::testing
