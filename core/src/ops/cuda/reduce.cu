// Reductions in two fixed-order stages: a grid of a size that depends only on the problem
// writes per-block partials, one block combines them. Same input, same bits.
#include <vector>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kThreads = 256;
// Elements per first-stage block: small enough that a tensor of a few million elements
// still spreads over the device (a norm over many such tensors runs them one after another).
constexpr std::int64_t kChunk = 1 << 13;
constexpr int kMaxBlocks = 1024;

enum class Kind { sum, max, sumsq };

template <Kind K>
__device__ __forceinline__ float combine(float a, float b) {
  if constexpr (K == Kind::max)
    return fmaxf(a, b);
  else
    return a + b;
}
template <Kind K>
__device__ __forceinline__ float block_reduce(float v) {
  if constexpr (K == Kind::max)
    return block_max(v);
  else
    return block_sum(v);
}

template <Kind K>
__device__ __forceinline__ void accumulate(float& acc, float v) {
  if constexpr (K == Kind::max) {
    // fmaxf drops NaN; keep it so that max() reports a NaN input
    acc = (v != v || acc != acc) ? NAN : fmaxf(acc, v);
  } else if constexpr (K == Kind::sumsq) {
    acc += v * v;
  } else {
    acc += v;
  }
}

// Stage 1 for one tensor: block b covers a fixed grid-stride share of [0, n), thread t the packs
// of kVec elements t, t + stride, ..., each in element order: one 16-byte load a pack when x is
// aligned, single loads otherwise, the same sums either way.
template <Kind K, class T>
__global__ void reduce_partial(std::int64_t n, const T* x, float* partial) {
  float acc = K == Kind::max ? -INFINITY : 0.f;
  const bool vec = aligned16(x);
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (std::int64_t p = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; p * kVec < n;
       p += stride) {
    const std::int64_t base = p * kVec;
    if (vec && base + kVec <= n) {
      const Pack<T> v = reinterpret_cast<const Pack<T>*>(x)[p];
#pragma unroll
      for (int j = 0; j < kVec; ++j) accumulate<K>(acc, to_f(v.v[j]));
    } else {
      for (std::int64_t i = base; i < base + kVec && i < n; ++i) accumulate<K>(acc, to_f(x[i]));
    }
  }
  acc = block_reduce<K>(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// Stage 2: out[0] = reduce(partial[0..n)), summed in double for sum and l2.
template <Kind K>
__global__ void reduce_final(std::int64_t n, const float* partial, float* out) {
  if constexpr (K == Kind::max) {
    float acc = -INFINITY;
    bool nan = false;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      nan |= partial[i] != partial[i];
      acc = fmaxf(acc, partial[i]);
    }
    acc = block_max(acc);
    float any_nan = block_sum(nan ? 1.f : 0.f);
    if (threadIdx.x == 0) out[0] = any_nan > 0.f ? NAN : acc;
  } else {
    __shared__ double s[kThreads];
    double acc = 0.0;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += partial[i];
    s[threadIdx.x] = acc;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
      if (int(threadIdx.x) < w) s[threadIdx.x] += s[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = float(K == Kind::sumsq ? sqrt(s[0]) : s[0]);
  }
}

int blocks_for(std::int64_t n) {
  std::int64_t b = (n + kChunk - 1) / kChunk;
  return int(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

template <Kind K>
void reduce_one(const char* op, const Tensor& x, Tensor& out) {
  check_cuda_tensor(x, op);
  check_dtype(out, DType::f32, op);
  VPMOE_CHECK(out.numel() == 1, std::string(op) + ": out must have one element");
  Launch L(out);
  int blocks = blocks_for(x.numel());
  float* partial = static_cast<float*>(device_alloc(out.device(), sizeof(float) * blocks));
  dispatch_float(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    reduce_partial<K><<<blocks, kThreads, 0, L.stream>>>(x.numel(), x.data_as<const T>(), partial);
    VPMOE_CUDA_LAUNCH_CHECK();
  });
  reduce_final<K><<<1, kThreads, 0, L.stream>>>(blocks, partial, out.data_as<float>());
  VPMOE_CUDA_LAUNCH_CHECK();
  device_free(out.device(), partial);
}

}  // namespace

void sum(const Tensor& x, Tensor& out) {
  reduce_one<Kind::sum>("sum", x, out);
}
void max(const Tensor& x, Tensor& out) {
  reduce_one<Kind::max>("max", x, out);
}

void global_l2_norm(std::span<const Tensor> tensors, Tensor& out) {
  check_cuda_tensor(out, "global_l2_norm");
  check_dtype(out, DType::f32, "global_l2_norm: out");
  VPMOE_CHECK(out.numel() == 1, "global_l2_norm: out must have one element");
  Launch L(out);
  // One partial slot range per tensor; each tensor's stage 1 is one launch (tensors differ in
  // dtype and size); the order of the final sum is fixed by the list.
  std::vector<int> blocks(tensors.size());
  std::int64_t total = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    check_cuda_tensor(tensors[i], "global_l2_norm");
    blocks[i] = tensors[i].numel() ? blocks_for(tensors[i].numel()) : 0;
    total += blocks[i];
  }
  float* partial =
      static_cast<float*>(device_alloc(out.device(), sizeof(float) * (total ? total : 1)));
  std::int64_t at = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!blocks[i]) continue;
    const Tensor& t = tensors[i];
    dispatch_float(t.dtype(), "global_l2_norm", [&](auto tag) {
      using T = decltype(tag);
      reduce_partial<Kind::sumsq>
          <<<blocks[i], kThreads, 0, L.stream>>>(t.numel(), t.data_as<const T>(), partial + at);
      VPMOE_CUDA_LAUNCH_CHECK();
    });
    at += blocks[i];
  }
  reduce_final<Kind::sumsq><<<1, kThreads, 0, L.stream>>>(total, partial, out.data_as<float>());
  VPMOE_CUDA_LAUNCH_CHECK();
  device_free(out.device(), partial);
}

}  // namespace vpmoe::ops::cuda
