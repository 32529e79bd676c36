// Host microseconds per call: device_alloc + device_free of recurring sizes, a cuBLASLt GEMM of the
// model's shapes and an elementwise kernel, each with the device idle (synchronised before every
// call) and in a burst of calls with work queued ahead (a call that returns late in a burst is
// waiting for room in the device's launch queue, not working), and each GEMM's device time.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "../cuda_timing.h"
#include "vpmoe/device.h"
#include "vpmoe/ops.h"
#include "vpmoe/tensor.h"

using namespace vpmoe;
using clk = std::chrono::steady_clock;

namespace {

const Device kDev = Device::cuda(0);

// Median host microseconds of one call, the device synchronised before each.
double idle_us(const std::function<void()>& fn, int reps = 200) {
  std::vector<double> us;
  for (int i = 0; i < reps + 10; ++i) {
    cudaDeviceSynchronize();
    const auto t0 = clk::now();
    fn();
    const auto t1 = clk::now();
    if (i >= 10) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

// Mean host microseconds per call over a burst of n calls, nothing synchronised in between.
double burst_us(const std::function<void()>& fn, int n = 2000) {
  cudaDeviceSynchronize();
  const auto t0 = clk::now();
  for (int i = 0; i < n; ++i) fn();
  const auto t1 = clk::now();
  cudaDeviceSynchronize();
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / n;
}

void line(const char* what, double idle, double burst) {
  std::printf("%-58s idle %7.2f us | burst %7.2f us\n", what, idle, burst);
  std::fflush(stdout);
}

void allocs() {
  // A layer's worth of recurring sizes, held a while then freed, as a forward pass does.
  const std::vector<std::size_t> sizes = {8192 * 1024 * 2, 8192 * 128 * 2, 32768 * 1024 * 2,
                                          32768 * 128 * 4, 8192 * 4,       256 * 1024 * 2,
                                          8192 * 8 * 4,    32768 * 4};
  std::vector<void*> held;
  auto round = [&] {
    for (std::size_t s : sizes) held.push_back(device_alloc(kDev, s));
    for (void* p : held) device_free(kDev, p);
    held.clear();
  };
  const double n = double(2 * sizes.size());
  const double idle = idle_us(round) / n, burst = burst_us(round, 500) / n;
  line("device_alloc/free (cudaMallocAsync pool, per call)", idle, burst);
}

void gemm(const char* what, std::int64_t m, std::int64_t k, std::int64_t n) {
  Tensor a = Tensor::empty({m, k}, DType::bf16, kDev), b = Tensor::empty({k, n}, DType::bf16, kDev);
  Tensor c = Tensor::empty({m, n}, DType::bf16, kDev);
  ops::init_normal(a, 0.f, 1.f, 1);
  ops::init_normal(b, 0.f, 1.f, 2);
  auto call = [&] { ops::gemm(a, b, c); };
  line(what, idle_us(call), burst_us(call));
  const double ms = bench::median_ms([&](int) { call(); }, {10, 100});
  std::printf("%-58s device %7.2f us | %.1f TFLOP/s\n", "", ms * 1e3,
              2.0 * double(m) * double(k) * double(n) / (ms * 1e-3) / 1e12);
}

}  // namespace

int main() {
  if (!cuda_available()) {
    std::printf("bench_host_overhead: no CUDA device\n");
    return 0;
  }
  std::printf("bench_host_overhead on %s\n", device_name(kDev).c_str());
  allocs();
  gemm("cuBLASLt gemm bf16 [8192x1024] x [1024x1024]", 8192, 1024, 1024);
  gemm("cuBLASLt gemm bf16 [8192x1024] x [1024x128]", 8192, 1024, 128);
  gemm("cuBLASLt gemm bf16 [8192x128] x [128x1024]", 8192, 128, 1024);
  gemm("cuBLASLt gemm bf16 [64x64] x [64x64]", 64, 64, 64);
  Tensor x = Tensor::empty({8192, 1024}, DType::bf16, kDev), y = x;
  ops::init_normal(x, 0.f, 1.f, 3);
  Tensor out = Tensor::empty({8192, 1024}, DType::bf16, kDev);
  auto add = [&] { ops::add(x, y, out); };
  line("elementwise add bf16 [8192x1024]", idle_us(add), burst_us(add));
  return 0;
}
