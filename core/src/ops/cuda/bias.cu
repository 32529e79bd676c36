// Bias add and its gradient. The gradient sums rows in two fixed-order stages (no atomics),
// so it is deterministic.
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kThreads = 256;

template <class TX, class TB>
__global__ void bias_add_kernel(std::int64_t n, std::int64_t C, TX* x, const TB* bias) {
  std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    x[i] = from_f<TX>(to_f(x[i]) + to_f(bias[i % C]));
}

// Packed variant for C % 8 == 0 and aligned pointers.
template <class TX, class TB>
__global__ void bias_add_vec_kernel(std::int64_t np, std::int64_t Cp, TX* x, const TB* bias) {
  std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (std::int64_t p = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; p < np; p += stride) {
    Pack<TX> px = reinterpret_cast<Pack<TX>*>(x)[p];
    Pack<TB> pb = reinterpret_cast<const Pack<TB>*>(bias)[p % Cp];
#pragma unroll
    for (int j = 0; j < kVec; ++j) px.v[j] = from_f<TX>(to_f(px.v[j]) + to_f(pb.v[j]));
    reinterpret_cast<Pack<TX>*>(x)[p] = px;
  }
}

constexpr int kColTile = 32;    // columns per block (one warp wide)
constexpr int kRowLanes = 8;    // rows handled in parallel per block
constexpr int kRowChunk = 256;  // rows per partial sum

// partial[chunk, c] = sum of dy rows in the chunk (fixed order: strided lanes, then a tree).
template <class T>
__global__ void bias_grad_partial(std::int64_t rows, std::int64_t C, const T* dy, float* partial) {
  __shared__ float s[kRowLanes][kColTile + 1];
  std::int64_t c = blockIdx.x * std::int64_t(kColTile) + threadIdx.x;
  std::int64_t r0 = std::int64_t(blockIdx.y) * kRowChunk;
  std::int64_t r1 = min(rows, r0 + kRowChunk);
  float acc = 0.f;
  if (c < C)
    for (std::int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) acc += to_f(dy[r * C + c]);
  s[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float t = 0.f;
#pragma unroll
    for (int i = 0; i < kRowLanes; ++i) t += s[i][threadIdx.x];
    partial[std::int64_t(blockIdx.y) * C + c] = t;
  }
}

__global__ void bias_grad_final(std::int64_t chunks, std::int64_t C, const float* partial,
                                float* dbias, bool accumulate) {
  std::int64_t c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  float t = 0.f;
  for (std::int64_t k = 0; k < chunks; ++k) t += partial[k * C + c];
  dbias[c] = accumulate ? dbias[c] + t : t;
}

}  // namespace

void bias_add(Tensor& x, const Tensor& bias) {
  check_cuda_tensor(x, "bias_add");
  std::int64_t C = x.ndim() ? x.size(-1) : 1;
  VPMOE_CHECK(bias.numel() == C, "bias_add: bias must have the last dim of x: " + bias.str());
  Launch L(x);
  std::int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "bias_add", [&](auto tx) {
    using TX = decltype(tx);
    dispatch_float(bias.dtype(), "bias_add", [&](auto tb) {
      using TB = decltype(tb);
      TX* xp = x.data_as<TX>();
      const TB* bp = bias.data_as<const TB>();
      if (C % kVec == 0 && aligned16(xp) && aligned16(bp)) {
        std::int64_t np = n / kVec;
        bias_add_vec_kernel<<<grid_for(np, kThreads, L.device), kThreads, 0, L.stream>>>(
            np, C / kVec, xp, bp);
      } else {
        bias_add_kernel<<<grid_for(n, kThreads, L.device), kThreads, 0, L.stream>>>(n, C, xp, bp);
      }
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  });
}

void bias_grad(const Tensor& dy, Tensor& dbias, bool accumulate) {
  check_cuda_tensor(dy, "bias_grad");
  check_dtype(dbias, DType::f32, "bias_grad: dbias");
  std::int64_t C = dy.ndim() ? dy.size(-1) : 1;
  VPMOE_CHECK(dbias.numel() == C, "bias_grad: dbias must have the last dim of dy: " + dbias.str());
  std::int64_t rows = C ? dy.numel() / C : 0;
  Launch L(dbias);
  if (C == 0) return;
  std::int64_t chunks = (rows + kRowChunk - 1) / kRowChunk;
  VPMOE_CHECK(chunks < 65536, "bias_grad: too many rows");
  float* partial = nullptr;
  Device dev = dbias.device();
  if (chunks > 0) {
    partial = static_cast<float*>(device_alloc(dev, sizeof(float) * chunks * C));
    dispatch_float(dy.dtype(), "bias_grad", [&](auto t) {
      using T = decltype(t);
      dim3 grid(unsigned((C + kColTile - 1) / kColTile), unsigned(chunks));
      bias_grad_partial<<<grid, dim3(kColTile, kRowLanes), 0, L.stream>>>(
          rows, C, dy.data_as<const T>(), partial);
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  }
  bias_grad_final<<<unsigned((C + kThreads - 1) / kThreads), kThreads, 0, L.stream>>>(
      chunks, C, partial, dbias.data_as<float>(), accumulate);
  VPMOE_CUDA_LAUNCH_CHECK();
  if (partial) device_free(dev, partial);
}

}  // namespace vpmoe::ops::cuda
