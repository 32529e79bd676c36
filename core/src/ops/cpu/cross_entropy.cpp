// Softmax cross-entropy over a wide vocabulary. Each row is streamed in vocabulary chunks
// with an online max / sum, so nothing of size V is stored besides the logits themselves.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {
namespace {

constexpr std::int64_t kChunk = 2048;

void check_rows(const Tensor& logits, const Tensor& targets, std::int64_t& N, std::int64_t& V,
                const char* op) {
  detail::check_f32(logits, std::string(op) + ": logits");
  detail::check_cpu(targets, DType::i32, std::string(op) + ": targets");
  if (logits.ndim() != 2)
    throw Error(std::string(op) + ": logits must be [N, V], got " + logits.str());
  N = logits.size(0);
  V = logits.size(1);
  detail::check_numel(targets, N, std::string(op) + ": targets must be [N]");
  const std::int32_t* t = targets.data_as<const std::int32_t>();
  for (std::int64_t i = 0; i < N; ++i)
    if (t[i] < 0 || t[i] >= V)
      throw Error(std::string(op) + ": target " + std::to_string(t[i]) + " of row " +
                  std::to_string(i) + " is outside [0, " + std::to_string(V) + ")");
}

// log(sum(exp(x))) of one row, one chunk at a time.
double row_lse(const float* x, std::int64_t V) {
  float m = -std::numeric_limits<float>::infinity();
  double s = 0;
  for (std::int64_t c0 = 0; c0 < V; c0 += kChunk) {
    std::int64_t c1 = std::min(V, c0 + kChunk);
    float cm = m;
    for (std::int64_t j = c0; j < c1; ++j) cm = x[j] > cm ? x[j] : cm;
    if (cm > m) {
      s *= std::exp(double(m) - double(cm));  // rescale the running sum to the new max
      m = cm;
    }
    if (m == -std::numeric_limits<float>::infinity()) continue;  // all -inf so far
    double cs = 0;
    for (std::int64_t j = c0; j < c1; ++j) cs += std::exp(x[j] - m);
    s += cs;
  }
  return double(m) + std::log(s);
}

}  // namespace

void cross_entropy_forward(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse) {
  std::int64_t N, V;
  check_rows(logits, targets, N, V, "cross_entropy_forward");
  detail::check_f32(loss, "cross_entropy_forward: loss");
  detail::check_f32(lse, "cross_entropy_forward: lse");
  detail::check_numel(loss, N, "cross_entropy_forward: loss must be [N]");
  detail::check_numel(lse, N, "cross_entropy_forward: lse must be [N]");
  const float* px = logits.data_as<const float>();
  const std::int32_t* pt = targets.data_as<const std::int32_t>();
  float *pl = loss.data_as<float>(), *pz = lse.data_as<float>();
  detail::parallel_for(N, V, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* x = px + r * V;
      double z = row_lse(x, V);
      pz[r] = float(z);
      pl[r] = float(z - double(x[pt[r]]));
    }
  });
}

void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                            const Tensor& row_scale, Tensor& dlogits) {
  std::int64_t N, V;
  check_rows(logits, targets, N, V, "cross_entropy_backward");
  detail::check_f32(lse, "cross_entropy_backward: lse");
  detail::check_f32(row_scale, "cross_entropy_backward: row_scale");
  detail::check_f32(dlogits, "cross_entropy_backward: dlogits");
  detail::check_numel(lse, N, "cross_entropy_backward: lse must be [N]");
  detail::check_numel(row_scale, N, "cross_entropy_backward: row_scale must be [N]");
  check_shape(dlogits, logits.shape(), "cross_entropy_backward: dlogits");
  const float* px = logits.data_as<const float>();
  const std::int32_t* pt = targets.data_as<const std::int32_t>();
  const float *pz = lse.data_as<const float>(), *ps = row_scale.data_as<const float>();
  float* pd = dlogits.data_as<float>();
  // Element by element, reading x[j] before writing d[j]: safe when dlogits aliases logits.
  detail::parallel_for(N, V, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* x = px + r * V;
      float* d = pd + r * V;
      float s = ps[r], z = pz[r];
      if (s == 0.0f) {
        std::fill(d, d + V, 0.0f);
        continue;
      }
      std::int64_t t = pt[r];
      float xt = x[t];  // read before an aliased d overwrites it
      for (std::int64_t j = 0; j < V; ++j) d[j] = s * std::exp(x[j] - z);
      d[t] = s * (std::exp(xt - z) - 1.0f);
    }
  });
}

}  // namespace vpmoe::ops::cpu
