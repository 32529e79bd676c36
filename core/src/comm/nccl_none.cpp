// The NCCL entry points of a build without NCCL (no CUDA, or CUDA without libnccl-dev).
#include "comm/nccl_backend.h"
#include "vpmoe/error.h"

#if !VPMOE_HAS_NCCL
namespace vpmoe {
namespace {
[[noreturn]] void no_nccl() {
  throw Error("this build has no NCCL (install libnccl-dev and configure with VPMOE_CUDA=ON)");
}
}  // namespace

bool nccl_available() {
  return false;
}
std::vector<std::byte> nccl_unique_id() {
  no_nccl();
}
std::unique_ptr<Comm> nccl_comm(std::span<const std::byte>, int, int, Device) {
  no_nccl();
}
}  // namespace vpmoe
#endif
