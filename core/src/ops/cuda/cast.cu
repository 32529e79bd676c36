// f32 <-> bf16 (round to nearest even, the bits of the CPU's float_to_bf16); equal dtypes copy.
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kThreads = 256;

template <class TS, class TD>
__global__ void cast_kernel(std::int64_t n, const TS* src, TD* dst, bool vec) {
  std::int64_t tid = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  std::int64_t nv = vec ? n / kVec : 0;
  for (std::int64_t p = tid; p < nv; p += stride) {
    Pack<TS> ps = reinterpret_cast<const Pack<TS>*>(src)[p];
    Pack<TD> pd;
#pragma unroll
    for (int j = 0; j < kVec; ++j) pd.v[j] = from_f<TD>(to_f(ps.v[j]));
    reinterpret_cast<Pack<TD>*>(dst)[p] = pd;
  }
  for (std::int64_t i = nv * kVec + tid; i < n; i += stride) dst[i] = from_f<TD>(to_f(src[i]));
}

}  // namespace

void cast(const Tensor& src, Tensor& dst) {
  check_cuda_tensor(src, "cast");
  check_same_shape(src, dst, "cast");
  Launch L(dst);
  if (src.numel() == 0) return;
  if (src.dtype() == dst.dtype()) {
    if (src.data() != dst.data())
      VPMOE_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), src.nbytes(),
                                       cudaMemcpyDeviceToDevice, L.stream));
    return;
  }
  dispatch_float(src.dtype(), "cast", [&](auto ts) {
    using TS = decltype(ts);
    dispatch_float(dst.dtype(), "cast", [&](auto td) {
      using TD = decltype(td);
      std::int64_t n = src.numel();
      bool vec = aligned16(src.data()) && aligned16(dst.data());
      cast_kernel<<<grid_for(vec ? (n + kVec - 1) / kVec : n, kThreads, L.device), kThreads, 0,
                    L.stream>>>(n, src.data_as<const TS>(), dst.data_as<TD>(), vec);
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace vpmoe::ops::cuda
