// Fused QKV layout (one thread per 8-element chunk) and the value residual, with lambda read
// from the device and the theta gradient as a deterministic fixed-order sum.
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/qkv_layout.h"

namespace vpmoe::ops::cuda {
namespace {

// Element e of qkv and where it lives in q, k or v. merge copies the other way.
template <class T, bool kMerge>
__global__ void qkv_kernel(detail::QkvDims d, T* qkv, T* q, T* k, T* v) {
  const std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  const std::int64_t pg = d.nh / d.ng, per_group = (pg + 2) * d.d;
  if (e >= d.rows * d.ng * per_group) return;
  const std::int64_t c = e % d.d, slot = (e / d.d) % (pg + 2), rg = e / per_group;
  const std::int64_t g = rg % d.ng, r = rg / d.ng;
  T* part = slot < pg ? q + ((r * d.nh + g * pg + slot) * d.d + c)
                      : (slot == pg ? k : v) + ((r * d.ng + g) * d.d + c);
  if (kMerge)
    qkv[e] = *part;
  else
    *part = qkv[e];
}

template <bool kMerge>
void qkv_copy(const Tensor& qkv, const Tensor& q, const Tensor& k, const Tensor& v,
              const char* op) {
  for (const Tensor* t : {&qkv, &q, &k, &v}) check_cuda_tensor(*t, op);
  const auto d = detail::qkv_dims(qkv, q, k, v, op);
  const std::int64_t n = qkv.numel();
  if (n == 0) return;
  Launch L(qkv);
  dispatch_float(qkv.dtype(), op, [&](auto tx) {
    using T = decltype(tx);
    qkv_kernel<T, kMerge><<<unsigned((n + 255) / 256), 256, 0, L.stream>>>(
        d, qkv.data_as<T>(), q.data_as<T>(), k.data_as<T>(), v.data_as<T>());
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

__device__ __forceinline__ float sigmoidf(float x) {
  return 1.f / (1.f + expf(-x));
}

template <class T>
__global__ void vr_forward_kernel(std::int64_t n, const T* v, const T* v1, const float* theta,
                                  T* out) {
  const float lambda = sigmoidf(theta[0]);
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    out[i] = from_f<T>(lambda * to_f(v[i]) + (1.f - lambda) * to_f(v1[i]));
}

template <class T>
__global__ void vr_backward_kernel(std::int64_t n, const T* dv, const float* theta, T* dv_raw,
                                   float* dv1) {
  const float lambda = sigmoidf(theta[0]);
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const float g = to_f(dv[i]);
    dv_raw[i] = from_f<T>(lambda * g);
    dv1[i] += (1.f - lambda) * g;
  }
}

// The theta gradient's dot product sum((v - v1) * dv) in two fixed-order stages: a fixed grid
// of blocks, each thread its grid-stride packs in order, then one block over the partials, which
// also applies dtheta += lambda (1 - lambda) dot.
constexpr int kDotBlocks = 512, kDotThreads = 256;

template <class T>
__global__ void theta_dot_partial(std::int64_t n, const T* dv, const T* v, const T* v1,
                                  float* partial) {
  float acc = 0.f;
  const bool vec = aligned16(dv) && aligned16(v) && aligned16(v1);
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (std::int64_t p = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; p * kVec < n;
       p += stride) {
    const std::int64_t base = p * kVec;
    if (vec && base + kVec <= n) {
      const Pack<T> a = reinterpret_cast<const Pack<T>*>(v)[p];
      const Pack<T> b = reinterpret_cast<const Pack<T>*>(v1)[p];
      const Pack<T> g = reinterpret_cast<const Pack<T>*>(dv)[p];
#pragma unroll
      for (int j = 0; j < kVec; ++j) acc += (to_f(a.v[j]) - to_f(b.v[j])) * to_f(g.v[j]);
    } else {
      for (std::int64_t i = base; i < base + kVec && i < n; ++i)
        acc += (to_f(v[i]) - to_f(v1[i])) * to_f(dv[i]);
    }
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void theta_dot_finish(const float* partial, const float* theta, float* dtheta) {
  float acc = 0.f;
  for (int i = int(threadIdx.x); i < kDotBlocks; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) {
    const float lambda = sigmoidf(theta[0]);
    dtheta[0] += lambda * (1.f - lambda) * acc;
  }
}

}  // namespace

void qkv_split(const Tensor& qkv, Tensor& q, Tensor& k, Tensor& v) {
  qkv_copy<false>(qkv, q, k, v, "qkv_split");
}
void qkv_merge(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& qkv) {
  qkv_copy<true>(qkv, q, k, v, "qkv_merge");
}

void value_residual_forward(const Tensor& v, const Tensor& v1, const Tensor& theta, Tensor& out) {
  for (const Tensor* t : {&v, &v1, &theta, static_cast<const Tensor*>(&out)})
    check_cuda_tensor(*t, "value_residual_forward");
  detail::value_residual_check(v, v1, theta, out, "value_residual_forward");
  const std::int64_t n = v.numel();
  if (n == 0) return;
  Launch L(v);
  dispatch_float(v.dtype(), "value_residual_forward", [&](auto tx) {
    using T = decltype(tx);
    vr_forward_kernel<T><<<grid_for(n, 256, L.device), 256, 0, L.stream>>>(
        n, v.data_as<const T>(), v1.data_as<const T>(), theta.data_as<const float>(),
        out.data_as<T>());
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

void value_residual_backward(const Tensor& dv, const Tensor& v, const Tensor& v1,
                             const Tensor& theta, Tensor& dv_raw, Tensor& dv1, Tensor& dtheta) {
  const char* op = "value_residual_backward";
  for (const Tensor* t : {&dv, &v, &v1, &theta, static_cast<const Tensor*>(&dv_raw),
                          static_cast<const Tensor*>(&dv1), static_cast<const Tensor*>(&dtheta)})
    check_cuda_tensor(*t, op);
  detail::value_residual_check(v, v1, theta, dv, op);
  check_same_shape(dv_raw, v, "value_residual_backward: dv_raw");
  VPMOE_CHECK(dv_raw.dtype() == v.dtype(), "value_residual_backward: dv_raw needs v's dtype");
  check_same_shape(dv1, v, "value_residual_backward: dv1");
  check_dtype(dv1, DType::f32, "value_residual_backward: dv1");
  check_dtype(dtheta, DType::f32, "value_residual_backward: dtheta");
  VPMOE_CHECK(dtheta.numel() == 1, "value_residual_backward: dtheta must hold one element");
  const std::int64_t n = v.numel();
  if (n == 0) return;
  Launch L(v);
  Tensor partial = Tensor::empty({kDotBlocks}, DType::f32, v.device());
  dispatch_float(v.dtype(), op, [&](auto tx) {
    using T = decltype(tx);
    // The dot product first: dv_raw may alias dv.
    theta_dot_partial<T>
        <<<kDotBlocks, kDotThreads, 0, L.stream>>>(n, dv.data_as<const T>(), v.data_as<const T>(),
                                                   v1.data_as<const T>(), partial.data_as<float>());
    VPMOE_CUDA_LAUNCH_CHECK();
    theta_dot_finish<<<1, kDotThreads, 0, L.stream>>>(
        partial.data_as<const float>(), theta.data_as<const float>(), dtheta.data_as<float>());
    VPMOE_CUDA_LAUNCH_CHECK();
    vr_backward_kernel<T><<<grid_for(n, 256, L.device), 256, 0, L.stream>>>(
        n, dv.data_as<const T>(), theta.data_as<const float>(), dv_raw.data_as<T>(),
        dv1.data_as<float>());
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace vpmoe::ops::cuda
