// GEMM throughput through vpmoe::ops on one GPU: dense bf16 8192^3 and the MoE expert shape
// (G groups of [rows x K] @ [K x N]) with each grouped implementation. CUDA events around
// each call after warm-up; the median of many; inputs rotate over enough copies that the
// working set exceeds L2.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "../cuda_timing.h"
#include "device/cuda/cuda_util.h"
#include "ops/cuda/gemm_internal.h"
#include "vpmoe/device.h"
#include "vpmoe/ops.h"

using namespace vpmoe;

namespace {

bench::Reps g_reps = {10, 100};

// Copies of each input so that the rotation's working set is at least 3x the L2 size.
int copies_for(std::size_t bytes) {
  int l2 = 0;
  VPMOE_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
  std::size_t need = std::size_t(l2) * 3;
  return int(std::min<std::size_t>(16, std::max<std::size_t>(1, (need + bytes - 1) / bytes)));
}

Tensor randn(Shape s, DType dt, std::uint64_t seed) {
  Tensor t = Tensor::empty(std::move(s), dt, Device::cuda(0));
  ops::init_normal(t, 0.f, 1.f, seed);
  return t;
}

void report(const char* name, double flops, double ms) {
  std::printf("%-48s %9.3f ms %8.1f TFLOP/s\n", name, ms, flops / (ms * 1e-3) / 1e12);
  std::fflush(stdout);
}

void bench_dense(std::int64_t n) {
  std::size_t bytes = std::size_t(n * n) * 2;
  int copies = copies_for(3 * bytes);
  std::vector<Tensor> a, b, c;
  for (int i = 0; i < copies; ++i) {
    a.push_back(randn({n, n}, DType::bf16, 10 + i));
    b.push_back(randn({n, n}, DType::bf16, 100 + i));
    c.push_back(Tensor::empty({n, n}, DType::bf16, Device::cuda(0)));
  }
  double ms = bench::median_ms(
      [&](int i) { ops::gemm(a[i % copies], b[i % copies], c[i % copies]); }, g_reps);
  std::string name = "dense bf16 " + std::to_string(n) + "^3 (c bf16)";
  report(name.c_str(), 2.0 * n * n * n, ms);
}

void bench_grouped(const char* label, const std::vector<std::int64_t>& rows, std::int64_t K,
                   std::int64_t N) {
  std::int64_t G = std::int64_t(rows.size());
  std::int64_t M = std::accumulate(rows.begin(), rows.end(), std::int64_t(0));
  std::size_t bytes = std::size_t(M * K + G * K * N + M * N) * 2;
  int copies = copies_for(bytes);
  std::vector<Tensor> a, b, c, dy, dw;
  for (int i = 0; i < copies; ++i) {
    a.push_back(randn({M, K}, DType::bf16, 1000 + i));
    b.push_back(randn({G, K, N}, DType::bf16, 2000 + i));
    c.push_back(Tensor::empty({M, N}, DType::bf16, Device::cuda(0)));
    dy.push_back(randn({M, N}, DType::bf16, 3000 + i));
    dw.push_back(Tensor::empty({G, K, N}, DType::f32, Device::cuda(0)));
  }
  double flops = 2.0 * double(M) * K * N;
  struct Impl {
    const char* name;
    ops::cuda::GroupedImpl impl;
  };
  const Impl impls[] = {{"auto", ops::cuda::GroupedImpl::automatic},
                        {"cublasGemmGroupedBatchedEx", ops::cuda::GroupedImpl::cublas_grouped},
                        {"cuBLASLt loop", ops::cuda::GroupedImpl::lt_loop}};
  for (const Impl& im : impls) {
    ops::cuda::set_grouped_impl(im.impl);
    double ms = bench::median_ms(
        [&](int i) {
          int k = i % copies;
          ops::gemm_grouped(a[k], b[k], c[k], rows);
        },
        g_reps);
    std::string name = std::string(label) + " fwd  " + im.name;
    report(name.c_str(), flops, ms);
  }
  for (const Impl& im : impls) {
    ops::cuda::set_grouped_impl(im.impl);
    double ms = bench::median_ms(
        [&](int i) {
          int k = i % copies;
          ops::gemm_grouped_wgrad(a[k], dy[k], dw[k], rows);
        },
        g_reps);
    std::string name = std::string(label) + " wgrad " + im.name;
    report(name.c_str(), flops, ms);
  }
  ops::cuda::set_grouped_impl(ops::cuda::GroupedImpl::automatic);
}

}  // namespace

int main(int argc, char** argv) {
  g_reps = bench::parse_reps(argc, argv, g_reps);
  if (!cuda_available()) {
    std::printf("bench_gemm: no CUDA device\n");
    return 0;
  }
  cudaDeviceProp prop{};
  VPMOE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("bench_gemm on %s (%d SMs, L2 %d MB), median of %d after %d warm-up\n", prop.name,
              prop.multiProcessorCount, prop.l2CacheSize >> 20, g_reps.reps, g_reps.warmup);
  bench_dense(8192);
  const std::int64_t G = 256, rows = 128, K = 1024, N = 128;
  bench_grouped("experts 256x[128x1024]x[1024x128]", std::vector<std::int64_t>(G, rows), K, N);
  // Uneven routing: the same total rows spread unevenly, a few experts empty.
  std::vector<std::int64_t> uneven(G);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> d(0, 2 * rows);
  std::int64_t total = 0;
  for (auto& r : uneven) total += (r = d(rng));
  uneven[5] = uneven[77] = 0;
  bench_grouped("experts 256x[~128 uneven]", uneven, K, N);
  return 0;
}
