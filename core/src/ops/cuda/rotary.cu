// Rotary rotation of q/k (one thread per pair) and the frequency gradient (deterministic
// column sums). Angles and their sines in double, as on the CPU: t * omega reaches thousands
// of radians, where a float angle is off by ~1e-4.
#include "ops/cuda/column_sum.cuh"
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {
namespace {

struct Dims {
  std::int64_t B, T, H, D, half;
  bool per_head;
};

Dims rotary_dims(const Tensor& x, const Tensor& omega, const char* op) {
  check_cuda_tensor(x, op);
  check_dtype(omega, DType::f32, op);
  VPMOE_CHECK(x.ndim() == 4 && x.size(3) % 2 == 0,
              std::string(op) + ": x must be [B, T, H, D] with D even: " + x.str());
  Dims d{x.size(0), x.size(1), x.size(2), x.size(3), x.size(3) / 2, false};
  d.per_head = omega.ndim() == 2;
  VPMOE_CHECK((omega.ndim() == 1 && omega.size(0) == d.half) ||
                  (omega.ndim() == 2 && omega.size(0) == d.H && omega.size(1) == d.half),
              std::string(op) + ": omega must be [D/2] or [H, D/2]: " + omega.str());
  return d;
}

template <class T>
__global__ void rotary_kernel(Dims d, T* x, const float* omega, double sign, std::int64_t pos0) {
  const std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  const std::int64_t pairs = d.B * d.T * d.H * d.half;
  if (i >= pairs) return;
  const std::int64_t m = i % d.half, vec = i / d.half, h = vec % d.H, t = pos0 + (vec / d.H) % d.T;
  const double w = omega[(d.per_head ? h * d.half : 0) + m];
  double s, c;
  sincos(sign * double(t) * w, &s, &c);
  T* v = x + vec * d.D;
  const double a = to_f(v[m]), b = to_f(v[m + d.half]);
  v[m] = from_f<T>(float(a * c - b * s));
  v[m + d.half] = from_f<T>(float(b * c + a * s));
}

// term(r, c) with r a (b, t, h) vector (shared omega) or a (b, t) row (per-head omega).
template <class TY, class TD>
struct OmegaTerm {
  const TY* y;
  const TD* dy;
  Dims d;
  __device__ float operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t vec, m, t;
    if (d.per_head) {
      vec = r * d.H + c / d.half, m = c % d.half, t = r % d.T;
    } else {
      vec = r, m = c, t = (r / d.H) % d.T;
    }
    const TY* yv = y + vec * d.D;
    const TD* gv = dy + vec * d.D;
    return float(t) * (to_f(gv[m + d.half]) * to_f(yv[m]) - to_f(gv[m]) * to_f(yv[m + d.half]));
  }
};

}  // namespace

void rotary(Tensor& x, const Tensor& omega, bool inverse, std::int64_t position) {
  const Dims d = rotary_dims(x, omega, "rotary");
  Launch L(x);
  const std::int64_t pairs = d.B * d.T * d.H * d.half;
  if (pairs == 0) return;
  dispatch_float(x.dtype(), "rotary", [&](auto tx) {
    using T = decltype(tx);
    rotary_kernel<<<unsigned((pairs + 255) / 256), 256, 0, L.stream>>>(
        d, x.data_as<T>(), omega.data_as<const float>(), inverse ? -1.0 : 1.0, position);
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

void rotary_omega_grad(const Tensor& y, const Tensor& dy, Tensor& domega) {
  const Dims d = rotary_dims(y, domega, "rotary_omega_grad");
  check_same_shape(y, dy, "rotary_omega_grad");
  Launch L(y);
  const std::int64_t rows = d.per_head ? d.B * d.T : d.B * d.T * d.H;
  const std::int64_t C = d.per_head ? d.H * d.half : d.half;
  if (rows == 0) return;
  dispatch_float(y.dtype(), "rotary_omega_grad", [&](auto ty) {
    using TY = decltype(ty);
    dispatch_float(dy.dtype(), "rotary_omega_grad", [&](auto td) {
      using TD = decltype(td);
      colsum::column_sum(L, y.device(), rows, C,
                         OmegaTerm<TY, TD>{y.data_as<const TY>(), dy.data_as<const TD>(), d},
                         domega.data_as<float>(), true, "rotary_omega_grad");
    });
  });
}

}  // namespace vpmoe::ops::cuda
