// Seeded init with philox.h: element i depends only on (seed, offset + i), so the bits match
// the CPU op whatever the launch shape. Built with --fmad=false (core/CMakeLists.txt): the
// double arithmetic must not be contracted into FMAs.
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/philox.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kThreads = 256;

template <class T, bool Normal>
__global__ void init_kernel(std::int64_t n, T* out, double a, double b, std::uint64_t seed,
                            std::uint64_t offset) {
  std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n; i += stride) {
    std::uint64_t ctr = offset + std::uint64_t(i);
    // normal: a = mean, b = std; uniform: a = lo, b = hi - lo.
    double r = Normal ? rng::normal(ctr, seed) : rng::uniform(ctr, seed);
    float v = float(a + b * r);
    out[i] = from_f<T>(v);
  }
}

template <bool Normal>
void launch_init(Tensor& t, double a, double b, std::uint64_t seed, std::uint64_t offset,
                 const char* op) {
  check_cuda_tensor(t, op);
  Launch L(t);
  std::int64_t n = t.numel();
  if (n == 0) return;
  dispatch_float(t.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    init_kernel<T, Normal><<<grid_for(n, kThreads, L.device), kThreads, 0, L.stream>>>(
        n, t.data_as<T>(), a, b, seed, offset);
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace

void init_normal(Tensor& t, float mean, float std, std::uint64_t seed, std::uint64_t offset) {
  launch_init<true>(t, mean, std, seed, offset, "init_normal");
}

void init_uniform(Tensor& t, float lo, float hi, std::uint64_t seed, std::uint64_t offset) {
  launch_init<false>(t, lo, double(hi) - double(lo), seed, offset, "init_uniform");
}

}  // namespace vpmoe::ops::cuda
