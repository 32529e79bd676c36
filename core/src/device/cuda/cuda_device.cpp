#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "device/cuda/cuda_util.h"
#include "device/cuda_device.h"

namespace vpmoe::cuda_impl {

void throw_cuda(cudaError_t e, const char* what, const char* file, int line) {
  throw Error(std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
              ") in " + what + " at " + file + ":" + std::to_string(line));
}

namespace {
thread_local std::unordered_map<int, cudaStream_t> t_streams;
std::once_flag g_pool_once[64];

// Keep freed blocks in the pool instead of returning them to the driver at each sync.
void setup_pool(int device) {
  std::call_once(g_pool_once[device & 63], [device] {
    cudaMemPool_t pool;
    VPMOE_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    std::uint64_t threshold = UINT64_MAX;
    VPMOE_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  });
}

}  // namespace

int current_device() {
  int d = 0;
  VPMOE_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

int device_count() {
  static const int n = [] {
    int c = 0;
    if (cudaGetDeviceCount(&c) != cudaSuccess) {
      cudaGetLastError();  // no driver or no device: not an error for a CPU run
      return 0;
    }
    return c;
  }();
  return n;
}

cudaStream_t stream(int device) {
  auto it = t_streams.find(device);
  return it == t_streams.end() ? cudaStreamPerThread : it->second;
}

void* current_stream(int device) {
  return stream(device);
}
void set_current_stream(int device, void* s) {
  t_streams[device] = static_cast<cudaStream_t>(s);
}

void synchronize(int device) {
  DeviceGuard g(device);
  VPMOE_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
}

void* alloc(int device, std::size_t bytes) {
  DeviceGuard g(device);
  setup_pool(device);
  void* p = nullptr;
  VPMOE_CUDA_CHECK(cudaMallocAsync(&p, bytes, stream(device)));
  return p;
}

void free(int device, void* p) {
  DeviceGuard g(device);
  VPMOE_CUDA_CHECK(cudaFreeAsync(p, stream(device)));
}

void copy(void* dst, Device dd, const void* src, Device sd, std::size_t bytes) {
  int dev = dd.is_cuda() ? dd.index : sd.index;
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  VPMOE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  // The host may read (or free) its side right away.
  if (dd.is_cpu() || sd.is_cpu()) VPMOE_CUDA_CHECK(cudaStreamSynchronize(s));
}

void memset_zero(int device, void* p, std::size_t bytes) {
  DeviceGuard g(device);
  VPMOE_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream(device)));
}

std::string name(int device) {
  cudaDeviceProp p{};
  VPMOE_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  return p.name;
}

std::size_t peak_bytes(int device) {
  cudaMemPool_t pool;
  VPMOE_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  std::uint64_t high = 0;
  VPMOE_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &high));
  return std::size_t(high);
}

}  // namespace vpmoe::cuda_impl
