#pragma once
// Timing shared by the CUDA benchmarks: the median of many calls, each timed alone with CUDA
// events on vpmoe's stream for device 0, after warm-up; the same by the wall clock between
// device synchronisations (for work that also runs on the host); the --reps / --warmup flags.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "device/cuda/cuda_util.h"

namespace vpmoe::bench {

struct Reps {
  int warmup, reps;
};

inline Reps parse_reps(int argc, char** argv, Reps r) {
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--reps") r.reps = std::atoi(argv[++i]);
    if (k == "--warmup") r.warmup = std::atoi(argv[++i]);
  }
  return r;
}

// Median milliseconds of fn(i) over r.reps calls.
inline double median_ms(const std::function<void(int)>& fn, Reps r) {
  cudaStream_t s = cuda_impl::stream(0);
  for (int i = 0; i < r.warmup; ++i) fn(i);
  std::vector<cudaEvent_t> ev(2 * std::size_t(r.reps));
  for (auto& e : ev) VPMOE_CUDA_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < r.reps; ++i) {
    VPMOE_CUDA_CHECK(cudaEventRecord(ev[2 * i], s));
    fn(i);
    VPMOE_CUDA_CHECK(cudaEventRecord(ev[2 * i + 1], s));
  }
  VPMOE_CUDA_CHECK(cudaStreamSynchronize(s));
  std::vector<double> ms(std::size_t(r.reps));
  for (int i = 0; i < r.reps; ++i) {
    float t = 0;
    VPMOE_CUDA_CHECK(cudaEventElapsedTime(&t, ev[2 * i], ev[2 * i + 1]));
    ms[std::size_t(i)] = t;
  }
  for (auto& e : ev) cudaEventDestroy(e);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Median wall-clock milliseconds of fn over reps calls after warmup ones, the device
// synchronised before and after each.
inline double wall_ms(const std::function<void()>& fn, int reps, int warmup) {
  std::vector<double> ms;
  for (int i = 0; i < reps + warmup; ++i) {
    cudaDeviceSynchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    cudaDeviceSynchronize();
    const auto t1 = std::chrono::steady_clock::now();
    if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace vpmoe::bench
