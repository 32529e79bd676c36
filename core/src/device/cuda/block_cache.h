#pragma once
// Freed device blocks kept for the next allocation of the same size class. The 80-layer step
// allocates ~20k blocks of a few hundred recurring sizes; cudaMallocAsync's pool search cost
// ~9 us a call there and the step is host-bound. A hit here is a hash lookup. Blocks are
// cached per thread and only when freed on the thread's default stream (cudaStreamPerThread),
// so a reuse is ordered after the free on the same stream, as cudaMallocAsync's own reuse is.
// VPMOE_CUDA_BLOCK_CACHE=0 turns it off (compute-sanitizer's memcheck, A/B benchmarks).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace vpmoe::cuda_impl::block_cache {

bool enabled();
void set_enabled(bool on);  // tests and benchmarks; blocks already cached stay until release

// The size a request is served with: 512-byte steps, 2 MiB steps from 16 MiB on.
std::size_t size_class(std::size_t bytes);

// A cached block of exactly this class for stream s of device, or nullptr.
void* take(int device, cudaStream_t s, std::size_t cls);
// Keeps p (allocated with class cls) for reuse; false when the cache does not take it (off,
// or not the thread's default stream): then the caller frees it.
bool put(int device, cudaStream_t s, std::size_t cls, void* p);
// Hands every block this thread cached for device back to the pool (cudaFreeAsync on the
// stream it was freed on); returns the bytes released.
std::size_t release(int device);

struct Stats {
  std::uint64_t hits, misses, released_bytes, flushes;
  std::size_t cached_bytes;  // this thread, all devices
};
Stats stats();

}  // namespace vpmoe::cuda_impl::block_cache
