// Row argmax over a column prefix: one block per row, each thread keeps the best (value,
// index) of its strided columns, then a fixed-order block merge. The rules of the CPU op:
// first index on ties, NaN never wins (a row of NaN gives 0).
#include <climits>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kThreads = 512;

// (v, i) beats (w, j): larger value, or the same value at a smaller index. NaN compares false.
__device__ __forceinline__ bool beats(float v, int i, float w, int j) {
  return v > w || (v == w && i < j);
}

template <class T>
__global__ void argmax_kernel(std::int64_t V, std::int64_t cols, const T* x, std::int32_t* out) {
  const T* row = x + std::int64_t(blockIdx.x) * V;
  float best = -INFINITY;
  int at = INT_MAX;
  for (std::int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = to_f(row[c]);
    if (beats(v, int(c), best, at)) best = v, at = int(c);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, best, o);
    const int j = __shfl_xor_sync(0xffffffffu, at, o);
    if (beats(w, j, best, at)) best = w, at = j;
  }
  __shared__ float sv[32];
  __shared__ int si[32];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) sv[w] = best, si[w] = at;
  __syncthreads();
  if (w == 0) {
    best = lane < nw ? sv[lane] : -INFINITY;
    at = lane < nw ? si[lane] : INT_MAX;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float v = __shfl_xor_sync(0xffffffffu, best, o);
      const int j = __shfl_xor_sync(0xffffffffu, at, o);
      if (beats(v, j, best, at)) best = v, at = j;
    }
    if (lane == 0) out[blockIdx.x] = at == INT_MAX ? 0 : at;
  }
}

}  // namespace

void argmax_rows(const Tensor& x, std::int64_t cols, Tensor& out) {
  check_cuda_tensor(x, "argmax_rows: x");
  check_cuda_tensor(out, "argmax_rows: out");
  check_dtype(out, DType::i32, "argmax_rows: out");
  if (x.ndim() != 2) throw Error("argmax_rows: x must be [N, V], got " + x.str());
  const std::int64_t N = x.size(0), V = x.size(1);
  if (cols <= 0 || cols > V || cols > INT_MAX)
    throw Error("argmax_rows: cols " + std::to_string(cols) + " outside 1.." + std::to_string(V) +
                " (x " + x.str() + ")");
  if (out.numel() != N)
    throw Error("argmax_rows: out must have " + std::to_string(N) + " elements, got " + out.str());
  if (N == 0) return;
  Launch L(x);
  dispatch_float(x.dtype(), "argmax_rows", [&](auto tag) {
    using T = decltype(tag);
    argmax_kernel<T><<<unsigned(N), kThreads, 0, L.stream>>>(V, cols, x.data_as<const T>(),
                                                             out.data_as<std::int32_t>());
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace vpmoe::ops::cuda
