#pragma once
// Helpers for the CUDA-vs-CPU op tests: random inputs with the same values on both devices,
// NaN-poisoned outputs, and relative errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "vpmoe/device.h"
#include "vpmoe/dtype.h"
#include "vpmoe/ops.h"
#include "vpmoe/tensor.h"

namespace vpmoe::testing {

#define VPMOE_REQUIRE_CUDA() \
  if (!::vpmoe::cuda_available()) GTEST_SKIP() << "no CUDA device"

inline Device gpu() {
  return Device::cuda(0);
}
inline Device cpu() {
  return Device::cpu();
}

inline std::mt19937& rng() {
  static std::mt19937 g(12345);
  return g;
}

// Values representable in dtype (bf16 rounds), so both devices see the same numbers.
inline std::vector<float> random_values(std::int64_t n, DType dt, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) {
    x = u(rng());
    if (dt == DType::bf16) x = bf16_to_float(float_to_bf16(x));
  }
  return v;
}

// The same random tensor on CUDA (in dtype) and on the CPU (f32).
struct Pair {
  Tensor dev, cpu;
};
inline Pair random_pair(const Shape& s, DType dt, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v = random_values(shape_numel(s), dt, lo, hi);
  return {Tensor::from_floats(v, s, dt, gpu()), Tensor::from_floats(v, s, DType::f32, cpu())};
}
// An f32 CPU tensor's values on CUDA in dtype, and on the CPU rounded as the CUDA copy is.
inline Pair same_on_gpu(const Tensor& cpu_f32, DType dt) {
  Tensor f = cpu_f32.to(gpu());
  if (dt == DType::f32) return {f, cpu_f32};
  Tensor d = Tensor::empty(cpu_f32.shape(), dt, gpu()), back = f.clone();
  ops::cast(f, d);
  ops::cast(d, back);
  return {d, back.to(cpu())};
}
inline Pair pair_from(const std::vector<float>& v, const Shape& s, DType dt) {
  return {Tensor::from_floats(v, s, dt, gpu()), Tensor::from_floats(v, s, DType::f32, cpu())};
}

// A CUDA tensor full of NaN: elements an op fails to write make the comparison fail.
inline Tensor poisoned(const Shape& s, DType dt) {
  std::vector<float> v(static_cast<std::size_t>(shape_numel(s)),
                       std::numeric_limits<float>::quiet_NaN());
  return Tensor::from_floats(v, s, dt, gpu());
}

// ||out - ref|| / ||ref|| (absolute norm when ref is zero); NaN anywhere gives +inf.
inline double rel_err(const Tensor& out, const Tensor& ref) {
  std::vector<float> o = out.to_floats(), r = ref.to_floats();
  EXPECT_EQ(o.size(), r.size());
  if (o.size() != r.size()) return INFINITY;
  double num = 0, den = 0;
  for (std::size_t i = 0; i < o.size(); ++i) {
    if (!std::isfinite(o[i]) && !(std::isinf(o[i]) && o[i] == r[i])) return INFINITY;
    double d = double(o[i]) - double(r[i]);
    num += d * d;
    den += double(r[i]) * double(r[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Raw bytes of a tensor on the host.
inline std::vector<unsigned char> bytes_of(const Tensor& t) {
  Tensor h = t.device().is_cpu() ? t : t.to(cpu());
  std::vector<unsigned char> b(h.nbytes());
  if (!b.empty()) std::memcpy(b.data(), h.data(), b.size());
  return b;
}

inline const char* dt_str(DType d) {
  return d == DType::bf16 ? "bf16" : "f32";
}

// Bounds: f32 arithmetic (no TF32) and bf16 inputs or outputs.
constexpr double kTolF32 = 1e-5;
constexpr double kTolBf16 = 1e-2;
inline double tol(DType d) {
  return d == DType::bf16 ? kTolBf16 : kTolF32;
}

}  // namespace vpmoe::testing
