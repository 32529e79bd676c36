#pragma once
// For plugins with CUDA kernels (header only; needs the CUDA runtime): a scope that runs on a
// tensor's device and hands out vpmoe's stream for it, and turns a failed launch into a
// vpmoe::Error that names the plugin and the kernel.
#include <cuda_runtime.h>

#include <string>

#include "vpmoe/device.h"
#include "vpmoe/error.h"

namespace vpmoe {

class CudaLaunch {
 public:
  // who: the plugin's spec name, for the errors.
  CudaLaunch(Device d, const char* who) : dev_(d.index), who_(who) {
    check(cudaGetDevice(&prev_), "cudaGetDevice");
    if (prev_ != dev_) check(cudaSetDevice(dev_), "cudaSetDevice");
    stream_ = static_cast<cudaStream_t>(current_stream(d));
  }
  ~CudaLaunch() {
    if (prev_ != dev_) cudaSetDevice(prev_);
  }
  CudaLaunch(const CudaLaunch&) = delete;
  CudaLaunch& operator=(const CudaLaunch&) = delete;

  cudaStream_t stream() const { return stream_; }
  // After a launch: throws when it failed.
  void check(const char* what) const { check(cudaGetLastError(), what); }
  void check(cudaError_t e, const char* what) const {
    if (e != cudaSuccess)
      throw Error(std::string(who_) + " (CUDA) " + what + ": " + cudaGetErrorString(e));
  }

 private:
  int prev_ = 0, dev_;
  const char* who_;
  cudaStream_t stream_ = nullptr;
};

}  // namespace vpmoe
