// Rotary rotation of q/k and its frequency gradient. Angles and their sines are taken in
// double: t * omega reaches thousands of radians, where a float angle loses ~1e-4 rad.
#include <cmath>
#include <string>
#include <vector>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {

using detail::check_f32;

namespace {

struct RotaryDims {
  std::int64_t B, T, H, D, half;
  bool per_head;
};

RotaryDims rotary_dims(const Tensor& x, const Tensor& omega, const char* op) {
  if (x.ndim() != 4 || x.size(3) % 2 != 0)
    throw Error(std::string(op) + ": x must be [B, T, H, D] with D even, got " + x.str());
  RotaryDims d{x.size(0), x.size(1), x.size(2), x.size(3), x.size(3) / 2, false};
  if (omega.ndim() == 1 && omega.size(0) == d.half) return d;
  if (omega.ndim() == 2 && omega.size(0) == d.H && omega.size(1) == d.half) {
    d.per_head = true;
    return d;
  }
  throw Error(std::string(op) + ": omega must be [D/2] = [" + std::to_string(d.half) +
              "] or [H, D/2] = [" + std::to_string(d.H) + ", " + std::to_string(d.half) +
              "], got " + omega.str());
}

}  // namespace

void rotary(Tensor& x, const Tensor& omega, bool inverse, std::int64_t position) {
  check_f32(x, "rotary: x");
  check_f32(omega, "rotary: omega");
  const RotaryDims d = rotary_dims(x, omega, "rotary");
  float* px = x.data_as<float>();
  const float* pw = omega.data_as<const float>();
  const double sign = inverse ? -1.0 : 1.0;
  detail::parallel_for(d.B * d.T, d.H * d.D * 8, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const double t = double(position + r % d.T);
      for (std::int64_t h = 0; h < d.H; ++h) {
        float* v = px + (r * d.H + h) * d.D;
        const float* w = pw + (d.per_head ? h * d.half : 0);
        for (std::int64_t m = 0; m < d.half; ++m) {
          const double th = sign * t * double(w[m]);
          const double c = std::cos(th), s = std::sin(th);
          const double a = v[m], b = v[m + d.half];
          v[m] = float(a * c - b * s);
          v[m + d.half] = float(b * c + a * s);
        }
      }
    }
  });
}

void rotary_omega_grad(const Tensor& y, const Tensor& dy, Tensor& domega) {
  check_f32(y, "rotary_omega_grad: y");
  check_f32(dy, "rotary_omega_grad: dy");
  check_f32(domega, "rotary_omega_grad: domega");
  check_shape(dy, y.shape(), "rotary_omega_grad: dy");
  const RotaryDims d = rotary_dims(y, domega, "rotary_omega_grad");
  const float *py = y.data_as<const float>(), *pd = dy.data_as<const float>();
  const std::int64_t groups = d.per_head ? d.H : 1;
  std::vector<double> acc(std::size_t(groups * d.half), 0.0);
  // Fixed summation order (b, t, h) so the result does not depend on threads.
  for (std::int64_t r = 0; r < d.B * d.T; ++r) {
    const double t = double(r % d.T);
    for (std::int64_t h = 0; h < d.H; ++h) {
      const float* yv = py + (r * d.H + h) * d.D;
      const float* gv = pd + (r * d.H + h) * d.D;
      double* a = acc.data() + (d.per_head ? h * d.half : 0);
      for (std::int64_t m = 0; m < d.half; ++m)
        a[m] += t * (double(gv[m + d.half]) * yv[m] - double(gv[m]) * yv[m + d.half]);
    }
  }
  float* po = domega.data_as<float>();
  for (std::size_t i = 0; i < acc.size(); ++i) po[i] += float(acc[i]);
}

}  // namespace vpmoe::ops::cpu
