// Bias add and its gradient. The gradient sums rows in two fixed-order stages (no atomics),
// so it is deterministic.
#include "ops/cuda/column_sum.cuh"
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

// term(r, c) of the bias gradient: dy[r, c].
template <class T>
struct DyTerm {
  const T* dy;
  std::int64_t C;
  __device__ float operator()(std::int64_t r, std::int64_t c) const { return to_f(dy[r * C + c]); }
};

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
  dispatch_float(dy.dtype(), "bias_grad", [&](auto t) {
    using T = decltype(t);
    colsum::column_sum(L, dbias.device(), rows, C, DyTerm<T>{dy.data_as<const T>(), C},
                       dbias.data_as<float>(), accumulate, "bias_grad");
  });
}

}  // namespace vpmoe::ops::cuda
