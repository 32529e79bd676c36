// Elementwise ops: f32 or bf16, fp32 arithmetic, 16-byte packed accesses when aligned.
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kThreads = 256;

// out[i] = f(a[i], b[i]); out may alias a or b (each element is read before it is written by
// the same thread).
template <class TO, class TA, class TB, class F>
__global__ void binary_kernel(std::int64_t n, TO* out, const TA* a, const TB* b, F f, bool vec) {
  std::int64_t tid = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  std::int64_t nv = vec ? n / kVec : 0;
  for (std::int64_t p = tid; p < nv; p += stride) {
    Pack<TA> pa = reinterpret_cast<const Pack<TA>*>(a)[p];
    Pack<TB> pb = reinterpret_cast<const Pack<TB>*>(b)[p];
    Pack<TO> po;
#pragma unroll
    for (int j = 0; j < kVec; ++j) po.v[j] = from_f<TO>(f(to_f(pa.v[j]), to_f(pb.v[j])));
    reinterpret_cast<Pack<TO>*>(out)[p] = po;
  }
  for (std::int64_t i = nv * kVec + tid; i < n; i += stride)
    out[i] = from_f<TO>(f(to_f(a[i]), to_f(b[i])));
}

template <class TO, class TA, class TB, class F>
void launch_binary(const Launch& L, std::int64_t n, TO* out, const TA* a, const TB* b, F f) {
  if (n == 0) return;
  bool vec = aligned16(out) && aligned16(a) && aligned16(b);
  unsigned grid = grid_for(vec ? (n + kVec - 1) / kVec : n, kThreads, L.device);
  binary_kernel<<<grid, kThreads, 0, L.stream>>>(n, out, a, b, f, vec);
  VPMOE_CUDA_LAUNCH_CHECK();
}

// Same-dtype binary op over a, b -> out.
template <class F>
void same_dtype_binary(const char* op, const Tensor& a, const Tensor& b, Tensor& out, F f) {
  check_cuda_tensor(a, op);
  check_same_shape(a, b, op);
  check_same_shape(a, out, op);
  VPMOE_CHECK(a.dtype() == b.dtype() && a.dtype() == out.dtype(),
              std::string(op) + ": dtypes differ");
  Launch L(out);
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    launch_binary(L, a.numel(), out.data_as<T>(), a.data_as<const T>(), b.data_as<const T>(), f);
  });
}

}  // namespace

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  same_dtype_binary("add", a, b, out, [] __device__(float x, float y) { return x + y; });
}

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  same_dtype_binary("mul", a, b, out, [] __device__(float x, float y) { return x * y; });
}

void scale(const Tensor& a, float s, Tensor& out) {
  same_dtype_binary("scale", a, a, out, [s] __device__(float x, float) { return x * s; });
}

void squared_relu(const Tensor& x, Tensor& y) {
  same_dtype_binary("squared_relu", x, x, y, [] __device__(float v, float) {
    float r = v > 0.f ? v : 0.f;
    return r * r;
  });
}

void squared_relu_backward(const Tensor& x, const Tensor& dy, Tensor& dx) {
  same_dtype_binary("squared_relu_backward", x, dy, dx,
                    [] __device__(float v, float g) { return v > 0.f ? g * 2.f * v : 0.f; });
}

void axpy(float alpha, const Tensor& x, Tensor& y) {
  check_cuda_tensor(x, "axpy");
  check_same_shape(x, y, "axpy");
  Launch L(y);
  auto f = [alpha] __device__(float xv, float yv) { return yv + alpha * xv; };
  dispatch_float(x.dtype(), "axpy", [&](auto tx) {
    using TX = decltype(tx);
    dispatch_float(y.dtype(), "axpy", [&](auto ty) {
      using TY = decltype(ty);
      launch_binary(L, y.numel(), y.data_as<TY>(), x.data_as<const TX>(), y.data_as<const TY>(), f);
    });
  });
}

namespace {
template <class T>
__global__ void fill_kernel(std::int64_t n, T* out, T v) {
  std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    out[i] = v;
}
template <class T>
void launch_fill(const Launch& L, std::int64_t n, T* out, T v) {
  if (n == 0) return;
  fill_kernel<<<grid_for(n, kThreads, L.device), kThreads, 0, L.stream>>>(n, out, v);
  VPMOE_CUDA_LAUNCH_CHECK();
}
}  // namespace

void fill(Tensor& t, float value) {
  check_cuda_tensor(t, "fill");
  Launch L(t);
  switch (t.dtype()) {
    case DType::f32:
      launch_fill(L, t.numel(), t.data_as<float>(), value);
      break;
    case DType::bf16: {
      bf16 h = float_to_bf16(value);  // host rounding: same bits as the CPU op
      launch_fill(L, t.numel(), t.data_as<std::uint16_t>(), h.bits);
      break;
    }
    case DType::i32:
      launch_fill(L, t.numel(), t.data_as<std::int32_t>(), static_cast<std::int32_t>(value));
      break;
    default:
      throw Error("fill: unsupported dtype " + t.str());
  }
}

}  // namespace vpmoe::ops::cuda
