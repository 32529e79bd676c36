// Many tiny products c[i] = alpha op(a[i]) op(b[i]) + beta c[i] (TPA's per-token factor
// products: [8 x 4] x [4 x 128] and their gradients, 8,192 of them): cuBLAS runs these as
// 16 x 16 WMMA tiles at ~50 us a call; the work is a memory pass. A block takes one or more
// items whole: both operands go to shared memory as f32 (row strides padded against bank
// conflicts), then each thread sums its outputs over k in order (deterministic).
#include <algorithm>

#include "ops/cuda/common.cuh"
#include "ops/cuda/gemm_internal.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kSmemFloats = 12 * 1024;  // 48 KB, the default dynamic shared-memory limit

struct Dims {
  int M, N, K;
  bool ta, tb;
  int per_block;  // items per block
  int sa, sb;     // padded row strides of op(a) [M x K] and op(b) [K x N] in shared memory
  std::int64_t batch;
};

int floats_per_item(const Dims& d) {
  return d.M * d.sa + d.K * d.sb;
}

template <class TA, class TC>
__global__ void __launch_bounds__(kThreads)
    small_batched_kernel(Dims d, const TA* a, const TA* b, TC* c, float alpha, float beta) {
  extern __shared__ float smem[];
  const int mk = d.M * d.K, kn = d.K * d.N, mn = d.M * d.N;
  const std::int64_t first = std::int64_t(blockIdx.x) * d.per_block;
  const std::int64_t left = d.batch - first;
  const int items = left < d.per_block ? int(left) : d.per_block;
  const int per = d.M * d.sa + d.K * d.sb;
  // Loads in global order (coalesced); op() is applied by where each element lands.
  for (int i = int(threadIdx.x); i < items * mk; i += kThreads) {
    const int it = i / mk, e = i % mk;
    const int m = d.ta ? e % d.M : e / d.K, k = d.ta ? e / d.M : e % d.K;
    smem[it * per + m * d.sa + k] = to_f(a[(first + it) * mk + e]);
  }
  for (int i = int(threadIdx.x); i < items * kn; i += kThreads) {
    const int it = i / kn, e = i % kn;
    const int k = d.tb ? e % d.K : e / d.N, n = d.tb ? e / d.K : e % d.N;
    smem[it * per + d.M * d.sa + k * d.sb + n] = to_f(b[(first + it) * kn + e]);
  }
  __syncthreads();
  for (int i = int(threadIdx.x); i < items * mn; i += kThreads) {
    const int it = i / mn, m = (i % mn) / d.N, n = i % d.N;
    const float* sa = smem + it * per + m * d.sa;
    const float* sb = smem + it * per + d.M * d.sa + n;
    float acc = 0.f;
    for (int k = 0; k < d.K; ++k) acc += sa[k] * sb[k * d.sb];
    TC* p = c + (first + it) * mn + (i % mn);
    *p = from_f<TC>(beta == 0.f ? alpha * acc : alpha * acc + beta * to_f(*p));
  }
}

Dims dims_for(std::int64_t batch, std::int64_t M, std::int64_t N, std::int64_t K, bool ta,
              bool tb) {
  Dims d{int(M), int(N), int(K), ta, tb, 1, int(K) + 1, int(N) + 1, batch};
  const int per = floats_per_item(d);
  // Enough items that a block's threads have outputs, as shared memory allows.
  d.per_block = std::max(
      1, std::min<int>(kThreads / std::max<int>(1, int(M * N)), kSmemFloats / std::max(1, per)));
  return d;
}

}  // namespace

bool small_batched_fits(std::int64_t batch, std::int64_t M, std::int64_t N, std::int64_t K) {
  if (batch < 64 || M * N > 4096 || M > 4096 || N > 4096 || K > 4096) return false;
  const Dims d = dims_for(batch, M, N, K, false, false);
  return floats_per_item(d) <= kSmemFloats;
}

void gemm_small_batched(const Tensor& a, const Tensor& b, Tensor& c, std::int64_t batch,
                        std::int64_t M, std::int64_t N, std::int64_t K, bool ta, bool tb,
                        float alpha, float beta) {
  const Dims d = dims_for(batch, M, N, K, ta, tb);
  Launch L(c);
  const std::size_t smem = sizeof(float) * std::size_t(d.per_block) * floats_per_item(d);
  const unsigned blocks = unsigned((batch + d.per_block - 1) / d.per_block);
  dispatch_float(a.dtype(), "gemm", [&](auto ta_) {
    using TA = decltype(ta_);
    dispatch_float(c.dtype(), "gemm", [&](auto tc_) {
      using TC = decltype(tc_);
      small_batched_kernel<TA, TC><<<blocks, kThreads, smem, L.stream>>>(
          d, a.data_as<const TA>(), b.data_as<const TA>(), c.data_as<TC>(), alpha, beta);
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace vpmoe::ops::cuda
