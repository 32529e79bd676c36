#include "device/cuda/host_staging.h"

#include <array>
#include <cstring>
#include <memory>
#include <mutex>

#include "device/cuda/cuda_util.h"
#include "device/host_profile.h"

namespace vpmoe::cuda_impl {
namespace {

constexpr std::size_t kSlotBytes = std::size_t(1) << 20;  // a 32,768-row index fits
constexpr int kSlots = 32;  // the host would need to be this many uploads ahead to wait

struct Ring {
  std::mutex m;
  std::array<void*, kSlots> slot{};
  std::array<cudaEvent_t, kSlots> done{};
  int next = 0;
  explicit Ring(int device) {
    DeviceGuard g(device);
    for (int i = 0; i < kSlots; ++i) {
      VPMOE_CUDA_CHECK(cudaMallocHost(&slot[std::size_t(i)], kSlotBytes));
      VPMOE_CUDA_CHECK(cudaEventCreateWithFlags(&done[std::size_t(i)], cudaEventDisableTiming));
    }
  }
  // Never destroyed: the driver may be gone at exit, and the process frees the pinned pages.
};

Ring& ring(int device) {
  static std::mutex m;
  static std::array<std::unique_ptr<Ring>, 64> rings;
  std::lock_guard lock(m);
  auto& r = rings[std::size_t(device & 63)];
  if (!r) r = std::make_unique<Ring>(device);
  return *r;
}

}  // namespace

bool staged_upload(int device, cudaStream_t s, void* dst, const void* src, std::size_t bytes) {
  if (bytes > kSlotBytes) return false;
  VPMOE_HOST_SCOPE("staged upload");
  Ring& r = ring(device);
  std::lock_guard lock(r.m);
  const std::size_t i = std::size_t(r.next);
  r.next = (r.next + 1) % kSlots;
  // The slot's previous copy has long finished unless the host is kSlots uploads ahead.
  VPMOE_CUDA_CHECK(cudaEventSynchronize(r.done[i]));
  std::memcpy(r.slot[i], src, bytes);
  VPMOE_CUDA_CHECK(cudaMemcpyAsync(dst, r.slot[i], bytes, cudaMemcpyHostToDevice, s));
  VPMOE_CUDA_CHECK(cudaEventRecord(r.done[i], s));
  return true;
}

}  // namespace vpmoe::cuda_impl
