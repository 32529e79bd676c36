// Embedding lookup and its scatter-add backward (rows added in id order: deterministic).
#include <cstring>
#include <string>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {

void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& out) {
  detail::check_f32(table, "embedding_forward: table");
  detail::check_f32(out, "embedding_forward: out");
  if (table.ndim() != 2) throw Error("embedding_forward: table must be [V, C], got " + table.str());
  std::int64_t V = table.size(0), C = table.size(1);
  detail::check_ids(ids, V, "embedding_forward");
  std::int64_t N = ids.numel();
  check_shape(out, {N, C}, "embedding_forward: out");
  const std::int32_t* pi = ids.data_as<const std::int32_t>();
  const float* pt = table.data_as<const float>();
  float* po = out.data_as<float>();
  for (std::int64_t i = 0; i < N; ++i)
    if (C) std::memcpy(po + i * C, pt + std::int64_t(pi[i]) * C, sizeof(float) * C);
}

void embedding_backward(const Tensor& ids, const Tensor& dout, Tensor& dtable) {
  detail::check_f32(dout, "embedding_backward: dout");
  detail::check_f32(dtable, "embedding_backward: dtable");
  if (dtable.ndim() != 2)
    throw Error("embedding_backward: dtable must be [V, C], got " + dtable.str());
  std::int64_t V = dtable.size(0), C = dtable.size(1);
  detail::check_ids(ids, V, "embedding_backward");
  std::int64_t N = ids.numel();
  check_shape(dout, {N, C}, "embedding_backward: dout");
  const std::int32_t* pi = ids.data_as<const std::int32_t>();
  const float* pd = dout.data_as<const float>();
  float* pt = dtable.data_as<float>();
  for (std::int64_t i = 0; i < N; ++i) {
    float* row = pt + std::int64_t(pi[i]) * C;
    for (std::int64_t c = 0; c < C; ++c) row[c] += pd[i * C + c];
  }
}

}  // namespace vpmoe::ops::cpu
