#include "ops/cuda/sanitizer_marks.h"

#include <nvtx3/nvToolsExtMem.h>
#include <nvtx3/nvToolsExtMemCudaRt.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace vpmoe::cuda_impl {

bool sanitizer_marks_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("VPMOE_SANITIZER_MARKS");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

void mark_initialized(cudaStream_t s, const void* base, std::int64_t m, std::int64_t n,
                      std::int64_t ld, std::int64_t batch, std::int64_t stride,
                      std::int64_t elem_bytes) {
  if (!sanitizer_marks_enabled() || m <= 0 || n <= 0 || batch <= 0) return;
  static nvtxDomainHandle_t domain = nvtxDomainCreateA("vpmoe");
  const char* p = static_cast<const char*>(base);
  std::vector<nvtxMemVirtualRangeDesc_t> ranges;
  if (ld == m && (batch == 1 || stride == m * n)) {
    ranges.push_back({std::size_t(batch * m * n * elem_bytes), p});
  } else {
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t j = 0; j < n; ++j)
        ranges.push_back({std::size_t(m * elem_bytes), p + (b * stride + j * ld) * elem_bytes});
  }
  nvtxMemMarkInitializedBatch_t desc{};
  desc.extCompatID = NVTX_EXT_COMPATID_MEM;
  desc.structSize = sizeof desc;
  desc.regionType = NVTX_MEM_TYPE_VIRTUAL_ADDRESS;
  desc.regionDescCount = ranges.size();
  desc.regionDescElementSize = sizeof(nvtxMemVirtualRangeDesc_t);
  desc.regionDescElements = ranges.data();
  nvtxMemCudaMarkInitialized(domain, s, 0, &desc);
}

}  // namespace vpmoe::cuda_impl
