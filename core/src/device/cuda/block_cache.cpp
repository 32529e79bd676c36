#include "device/cuda/block_cache.h"

#include "device/cuda/cuda_util.h"

#include <atomic>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

namespace vpmoe::cuda_impl::block_cache {
namespace {

std::atomic<int> g_enabled{-1};  // -1: not yet read from the environment
std::atomic<std::uint64_t> g_hits{0}, g_misses{0}, g_released{0}, g_flushes{0};

struct DeviceCache {
  std::unordered_map<std::size_t, std::vector<void*>> free;  // size class -> blocks
  std::size_t bytes = 0;
};

// One per thread: cudaStreamPerThread names a different stream in each thread.
struct ThreadCache {
  std::unordered_map<int, DeviceCache> devices;
  ~ThreadCache() {
    // The thread ends: its blocks go back to the pool. At process exit the runtime may be gone
    // already; the errors are then ignored (the driver frees everything anyway).
    for (auto& [device, c] : devices) {
      if (cudaSetDevice(device) != cudaSuccess) break;
      for (auto& [cls, blocks] : c.free)
        for (void* p : blocks) cudaFreeAsync(p, cudaStreamPerThread);
    }
    cudaGetLastError();
  }
};

ThreadCache& mine() {
  thread_local ThreadCache c;
  return c;
}

}  // namespace

bool enabled() {
  int e = g_enabled.load(std::memory_order_relaxed);
  if (e < 0) {
    const char* v = std::getenv("VPMOE_CUDA_BLOCK_CACHE");
    e = v && std::string(v) == "0" ? 0 : 1;
    g_enabled.store(e, std::memory_order_relaxed);
  }
  return e == 1;
}

void set_enabled(bool on) {
  g_enabled.store(on ? 1 : 0);
}

std::size_t size_class(std::size_t bytes) {
  constexpr std::size_t small = 512, large = std::size_t(2) << 20, from = std::size_t(16) << 20;
  const std::size_t step = bytes >= from ? large : small;
  return bytes == 0 ? small : (bytes + step - 1) / step * step;
}

void* take(int device, cudaStream_t s, std::size_t cls) {
  if (s != cudaStreamPerThread || !enabled()) return nullptr;
  auto& devices = mine().devices;
  auto d = devices.find(device);
  if (d != devices.end()) {
    auto it = d->second.free.find(cls);
    if (it != d->second.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      d->second.bytes -= cls;
      g_hits.fetch_add(1, std::memory_order_relaxed);
      return p;
    }
  }
  g_misses.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

bool put(int device, cudaStream_t s, std::size_t cls, void* p) {
  if (s != cudaStreamPerThread || !enabled()) return false;
  DeviceCache& c = mine().devices[device];
  c.free[cls].push_back(p);
  c.bytes += cls;
  return true;
}

std::size_t release(int device) {
  auto& devices = mine().devices;
  auto d = devices.find(device);
  if (d == devices.end() || d->second.bytes == 0) return 0;
  std::size_t bytes = 0;
  for (auto& [cls, blocks] : d->second.free) {
    for (void* p : blocks) {
      VPMOE_CUDA_CHECK(cudaFreeAsync(p, cudaStreamPerThread));
      bytes += cls;
    }
    blocks.clear();
  }
  d->second.bytes = 0;
  g_released.fetch_add(bytes, std::memory_order_relaxed);
  g_flushes.fetch_add(1, std::memory_order_relaxed);
  return bytes;
}

Stats stats() {
  std::size_t cached = 0;
  for (auto& [device, c] : mine().devices) cached += c.bytes;
  return {g_hits.load(), g_misses.load(), g_released.load(), g_flushes.load(), cached};
}

}  // namespace vpmoe::cuda_impl::block_cache
