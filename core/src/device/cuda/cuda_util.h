#pragma once
// Error checks and the current stream for CUDA code in core (not part of the SDK).
#include <cuda_runtime.h>

#include <string>

#include "vpmoe/error.h"

namespace vpmoe::cuda_impl {

[[noreturn]] void throw_cuda(cudaError_t e, const char* what, const char* file, int line);
cudaStream_t stream(int device);  // the current stream of device on this thread
int current_device();             // cudaGetDevice

}  // namespace vpmoe::cuda_impl

#define VPMOE_CUDA_CHECK(call)                                                            \
  do {                                                                                    \
    cudaError_t e_ = (call);                                                              \
    if (e_ != cudaSuccess) ::vpmoe::cuda_impl::throw_cuda(e_, #call, __FILE__, __LINE__); \
  } while (0)
// After a kernel launch: launch-configuration errors surface here, not at the next sync.
#define VPMOE_CUDA_LAUNCH_CHECK() VPMOE_CUDA_CHECK(cudaGetLastError())

namespace vpmoe::cuda_impl {

// Makes d the current device for the scope (kernels launch on the current device).
struct DeviceGuard {
  int prev = 0, now = 0;
  explicit DeviceGuard(int d) : now(d) {
    VPMOE_CUDA_CHECK(cudaGetDevice(&prev));
    if (prev != d) VPMOE_CUDA_CHECK(cudaSetDevice(d));
  }
  ~DeviceGuard() {
    if (prev != now) cudaSetDevice(prev);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
};

}  // namespace vpmoe::cuda_impl
