#pragma once
// CUDA side of device.h (implemented in device/cuda/, or as errors in a CPU-only build).
#include <cstddef>
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
}  // namespace vpmoe::cuda_impl
