// Device-generic entry points; CUDA work goes to device/cuda/ when this build has it.
#include "vpmoe/device.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "device/cuda_device.h"
#include "vpmoe/error.h"
#include "vpmoe/version.h"

namespace vpmoe {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

#if !VPMOE_HAS_CUDA
namespace cuda_impl {
[[noreturn]] static void no_cuda() {
  throw Error("this vpmoe build has no CUDA parts (configure with VPMOE_CUDA=AUTO or ON)");
}
int device_count() {
  return 0;
}
void* current_stream(int) {
  return nullptr;
}
void set_current_stream(int, void*) {
  no_cuda();
}
void synchronize(int) {
  no_cuda();
}
void* alloc(int, std::size_t) {
  no_cuda();
}
void free(int, void*) {
  no_cuda();
}
void copy(void*, Device, const void*, Device, std::size_t) {
  no_cuda();
}
void memset_zero(int, void*, std::size_t) {
  no_cuda();
}
std::string name(int) {
  no_cuda();
}
std::size_t peak_bytes(int) {
  no_cuda();
}
void* event_create(int) {
  no_cuda();
}
void event_record(void*, int) {
  no_cuda();
}
void event_wait(void*) {
  no_cuda();
}
void event_destroy(void*) {}
HostWaits host_waits() {
  return {0, 0.0};
}
}  // namespace cuda_impl
#endif

std::string device_name(Device d) {
  return d.is_cuda() ? cuda_impl::name(d.index) : "cpu";
}
std::size_t peak_device_bytes(Device d) {
  return d.is_cuda() ? cuda_impl::peak_bytes(d.index) : 0;
}

bool cuda_available() {
  return cuda_impl::device_count() > 0;
}
int cuda_device_count() {
  return cuda_impl::device_count();
}

void* current_stream(Device d) {
  return d.is_cuda() ? cuda_impl::current_stream(d.index) : nullptr;
}
void set_current_stream(Device d, void* s) {
  if (d.is_cuda()) cuda_impl::set_current_stream(d.index, s);
}
void synchronize(Device d) {
  if (d.is_cuda()) cuda_impl::synchronize(d.index);
}

void* device_alloc(Device d, std::size_t bytes) {
  if (d.is_cuda()) return cuda_impl::alloc(d.index, bytes);
  // Steps allocate and free the same large activation buffers every micro-batch; glibc would
  // unmap each and fault fresh zeroed pages in again (13% of a tiny CPU step, most of a test's
  // system time). Keeping them in the heap makes the reuse free.
  static const bool heap_policy = [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)heap_policy;
  // 64-byte alignment for vector loads; size rounded up as aligned_alloc requires.
  std::size_t n = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, n ? n : 64);
  if (!p) throw std::bad_alloc();
  return p;
}

void device_free(Device d, void* p) {
  if (d.is_cuda())
    cuda_impl::free(d.index, p);
  else
    std::free(p);
}

void device_copy(void* dst, Device dd, const void* src, Device sd, std::size_t bytes) {
  if (dd.is_cpu() && sd.is_cpu())
    std::memmove(dst, src, bytes);
  else
    cuda_impl::copy(dst, dd, src, sd, bytes);
}

void device_memset_zero(Device d, void* p, std::size_t bytes) {
  if (d.is_cuda())
    cuda_impl::memset_zero(d.index, p, bytes);
  else
    std::memset(p, 0, bytes);
}

}  // namespace vpmoe
