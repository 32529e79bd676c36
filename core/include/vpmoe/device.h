#pragma once
// Devices, streams and the allocator behind every Tensor.
#include <cstddef>
#include <string>

namespace vpmoe {

enum class DeviceType : unsigned char { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const;
};

// True when this build has the CUDA parts and a device is present.
bool cuda_available();
int cuda_device_count();
// "NVIDIA H100 80GB HBM3", or "cpu".
std::string device_name(Device d);
// The most memory the pool had in use at once since the process started (0 on the CPU).
std::size_t peak_device_bytes(Device d);

// CUDA work of this thread goes to the current stream (a cudaStream_t, opaque here so the SDK
// headers need no CUDA include). nullptr means the per-device default stream of vpmoe.
void* current_stream(Device d);
void set_current_stream(Device d, void* stream);
// Waits for all work queued on the current stream of d (no-op on the CPU).
void synchronize(Device d);

// Raw device memory. CUDA memory comes from a stream-ordered pool (cudaMallocAsync on the
// current stream), so freeing and reusing it costs no device synchronisation.
void* device_alloc(Device d, std::size_t bytes);
void device_free(Device d, void* p);
// Copies between any pair of devices; ordered on the current stream, blocking when the host
// side needs the data.
void device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, std::size_t bytes);
void device_memset_zero(Device d, void* p, std::size_t bytes);

}  // namespace vpmoe
