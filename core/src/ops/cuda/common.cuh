#pragma once
// Helpers shared by the CUDA kernels of ops/cuda: dtype dispatch, bf16 conversion, packed
// 16-byte loads, launch shapes and deterministic block reductions.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "device/cuda/cuda_util.h"
#include "vpmoe/tensor.h"

namespace vpmoe::ops::cuda {

using bf16_t = __nv_bfloat16;

template <class T>
__device__ __forceinline__ float to_f(T v) {
  if constexpr (std::is_same_v<T, float>)
    return v;
  else
    return __bfloat162float(v);
}

// Same bits as vpmoe::float_to_bf16 on the host (round to nearest even, quiet NaN).
__device__ __forceinline__ bf16_t f2bf(float f) {
  std::uint32_t u = __float_as_uint(f);
  std::uint16_t r;
  if ((u & 0x7fffffffu) > 0x7f800000u)
    r = std::uint16_t((u >> 16) | 0x40u);
  else
    r = std::uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  return __ushort_as_bfloat16(r);
}

template <class T>
__device__ __forceinline__ T from_f(float v) {
  if constexpr (std::is_same_v<T, float>)
    return v;
  else
    return f2bf(v);
}

// Eight elements moved as 16-byte accesses (two for f32).
constexpr int kVec = 8;
template <class T>
struct alignas(16) Pack {
  T v[kVec];
};

__host__ __device__ inline bool aligned16(const void* p) {
  return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0;
}

// Calls f(T{}) with T = float or bf16_t for the tensor's dtype.
template <class F>
void dispatch_float(DType d, const char* op, F&& f) {
  if (d == DType::f32)
    f(float{});
  else if (d == DType::bf16)
    f(bf16_t{});
  else
    throw Error(std::string(op) + ": dtype must be f32 or bf16, got " + std::string(dtype_name(d)));
}

// Guard + stream for the device of t.
struct Launch {
  cuda_impl::DeviceGuard guard;
  cudaStream_t stream;
  int device;
  explicit Launch(const Tensor& t)
      : guard(t.device().index),
        stream(cuda_impl::stream(t.device().index)),
        device(t.device().index) {}
};

int sm_count(int device);

// Blocks for a grid-stride loop over `work` items of `threads` each, capped at a few waves.
inline unsigned grid_for(std::int64_t work, int threads, int device) {
  std::int64_t b = (work + threads - 1) / threads;
  std::int64_t cap = std::int64_t(sm_count(device)) * 16;
  if (b > cap) b = cap;
  return unsigned(b < 1 ? 1 : b);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block in a fixed order (deterministic); every thread gets the result.
// blockDim.x must be a multiple of 32, at most 1024.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float s[32];
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // s may still be read by a previous call
  if (lane == 0) s[w] = v;
  __syncthreads();
  v = lane < nw ? s[lane] : 0.f;
  return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v) {
  __shared__ float s[32];
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) s[w] = v;
  __syncthreads();
  v = lane < nw ? s[lane] : -INFINITY;
  return warp_max(v);
}

// Argument checks shared by the ops.
void check_cuda_tensor(const Tensor& t, const char* what);
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);

}  // namespace vpmoe::ops::cuda
