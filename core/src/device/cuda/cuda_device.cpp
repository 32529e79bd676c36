#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "device/cuda/cuda_util.h"
#include "device/cuda/host_staging.h"
#include "device/cuda_device.h"
#include "device/host_profile.h"

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

namespace {
// Host waits on the device (stream syncs, reads to the host, events): their count and time, so
// that a benchmark can tell a host-bound stretch (few waits, little time in them) from a
// device-bound one.
std::atomic<std::uint64_t> g_waits{0}, g_wait_ns{0};

template <class Wait>
void timed(Wait&& wait) {
  const auto t0 = std::chrono::steady_clock::now();
  wait();
  g_waits.fetch_add(1, std::memory_order_relaxed);
  g_wait_ns.fetch_add(std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now() - t0)
                                        .count()),
                      std::memory_order_relaxed);
}
void timed_sync(cudaStream_t s) {
  timed([s] { VPMOE_CUDA_CHECK(cudaStreamSynchronize(s)); });
}
}  // namespace

HostWaits host_waits() {
  return {g_waits.load(), double(g_wait_ns.load()) * 1e-9};
}

void synchronize(int device) {
  DeviceGuard g(device);
  timed_sync(stream(device));
}

void* alloc(int device, std::size_t bytes) {
  DeviceGuard g(device);
  setup_pool(device);
  void* p = nullptr;
  cudaError_t e;
  {
    VPMOE_HOST_SCOPE("cudaMallocAsync");
    e = cudaMallocAsync(&p, bytes, stream(device));
  }
  if (e == cudaErrorMemoryAllocation) {
    // The pool is fragmented (it keeps freed blocks; a host that runs ahead of the device frees
    // and reuses them in another order): wait for the queued work, hand the pool's unused
    // memory back to the driver and retry, so the request can be mapped afresh.
    cudaGetLastError();
    VPMOE_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
    cudaMemPool_t pool;
    VPMOE_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    VPMOE_CUDA_CHECK(cudaMemPoolTrimTo(pool, 0));
    e = cudaMallocAsync(&p, bytes, stream(device));
  }
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    cudaMemPool_t pool;
    std::uint64_t used = 0, reserved = 0;
    if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used);
      cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved);
    }
    throw Error("CUDA out of memory on device " + std::to_string(device) + ": " +
                std::to_string(bytes) + " bytes requested, " + std::to_string(used >> 20) +
                " MiB in use, " + std::to_string(reserved >> 20) +
                " MiB reserved by the pool (lower [train] micro_batch_size?)");
  }
  VPMOE_CUDA_CHECK(e);
  return p;
}

void free(int device, void* p) {
  VPMOE_HOST_SCOPE("cudaFreeAsync");
  DeviceGuard g(device);
  VPMOE_CUDA_CHECK(cudaFreeAsync(p, stream(device)));
}

void copy(void* dst, Device dd, const void* src, Device sd, std::size_t bytes) {
  int dev = dd.is_cuda() ? dd.index : sd.index;
  DeviceGuard g(dev);
  cudaStream_t s = stream(dev);
  if (sd.is_cpu() && dd.is_cuda() && staged_upload(dev, s, dst, src, bytes)) return;
  VPMOE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  // The host may read (or free) its side right away.
  if (dd.is_cpu() || sd.is_cpu()) timed_sync(s);
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

void* event_create(int device) {
  DeviceGuard g(device);
  cudaEvent_t e = nullptr;
  VPMOE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void event_record(void* event, int device) {
  DeviceGuard g(device);
  VPMOE_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), stream(device)));
}

void event_wait(void* event) {
  timed([event] { VPMOE_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event))); });
}

void event_destroy(void* event) {
  cudaEventDestroy(static_cast<cudaEvent_t>(event));
}

}  // namespace vpmoe::cuda_impl
