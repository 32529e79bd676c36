#pragma once
// CUDA side of device.h (implemented in device/cuda/, or as errors in a CPU-only build).
#include <cstddef>
#include <cstdint>
#include <string>

#include "vpmoe/device.h"

namespace vpmoe::cuda_impl {
int device_count();
void* current_stream(int device);
void set_current_stream(int device, void* stream);
void synchronize(int device);
void* alloc(int device, std::size_t bytes);
void free(int device, void* p);
void copy(void* dst, Device dst_dev, const void* src, Device src_dev, std::size_t bytes);
void memset_zero(int device, void* p, std::size_t bytes);
std::string name(int device);
std::size_t peak_bytes(int device);
// Host waits on the device so far (stream syncs and reads to the host), for benchmarks.
struct HostWaits {
  std::uint64_t count;
  double seconds;
};
HostWaits host_waits();
// Timing-free events on the device's current stream (run_ahead.h).
void* event_create(int device);
void event_record(void* event, int device);
void event_wait(void* event);  // the host waits until the event has passed
void event_destroy(void* event);
}  // namespace vpmoe::cuda_impl
