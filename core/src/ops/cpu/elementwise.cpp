// Elementwise fp32 ops; out may alias an input (each element is read before it is written).
#include <string>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {
namespace {

using detail::check_f32;

void check_like(const Tensor& t, const Tensor& ref, const std::string& what) {
  check_f32(t, what);
  check_shape(t, ref.shape(), what.c_str());
}

}  // namespace

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_f32(a, "add: a");
  check_like(b, a, "add: b");
  check_like(out, a, "add: out");
  const float *pa = a.data_as<const float>(), *pb = b.data_as<const float>();
  float* po = out.data_as<float>();
  for (std::int64_t i = 0, n = a.numel(); i < n; ++i) po[i] = pa[i] + pb[i];
}

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  check_f32(a, "mul: a");
  check_like(b, a, "mul: b");
  check_like(out, a, "mul: out");
  const float *pa = a.data_as<const float>(), *pb = b.data_as<const float>();
  float* po = out.data_as<float>();
  for (std::int64_t i = 0, n = a.numel(); i < n; ++i) po[i] = pa[i] * pb[i];
}

void scale(const Tensor& a, float s, Tensor& out) {
  check_f32(a, "scale: a");
  check_like(out, a, "scale: out");
  const float* pa = a.data_as<const float>();
  float* po = out.data_as<float>();
  for (std::int64_t i = 0, n = a.numel(); i < n; ++i) po[i] = s * pa[i];
}

void axpy(float alpha, const Tensor& x, Tensor& y) {
  check_f32(x, "axpy: x");
  check_like(y, x, "axpy: y");
  const float* px = x.data_as<const float>();
  float* py = y.data_as<float>();
  for (std::int64_t i = 0, n = x.numel(); i < n; ++i) py[i] += alpha * px[i];
}

void fill(Tensor& t, float value) {
  check_f32(t, "fill: t");
  float* p = t.data_as<float>();
  for (std::int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = value;
}

void squared_relu(const Tensor& x, Tensor& y) {
  check_f32(x, "squared_relu: x");
  check_like(y, x, "squared_relu: y");
  const float* px = x.data_as<const float>();
  float* py = y.data_as<float>();
  for (std::int64_t i = 0, n = x.numel(); i < n; ++i) {
    float r = px[i] > 0.0f ? px[i] : 0.0f;
    py[i] = r * r;
  }
}

void squared_relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  check_f32(x, "squared_relu_backward: x");
  check_like(dy, x, "squared_relu_backward: dy");
  check_like(dx, x, "squared_relu_backward: dx");
  const float *px = x.data_as<const float>(), *pdy = dy.data_as<const float>();
  float* pdx = dx.data_as<float>();
  for (std::int64_t i = 0, n = x.numel(); i < n; ++i) {
    float r = px[i] > 0.0f ? px[i] : 0.0f;
    pdx[i] = pdy[i] * 2.0f * r;
  }
}

}  // namespace vpmoe::ops::cpu
