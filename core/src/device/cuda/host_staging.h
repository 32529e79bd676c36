#pragma once
// Small host-to-device copies without a host wait: the bytes go through a ring of pinned slots,
// so the host may reuse its buffer at once and the copy stays ordered on the stream. A copy
// from pageable memory may wait for the whole stream, which starves the GPU of queued work.
#include <cuda_runtime.h>

#include <cstddef>

namespace vpmoe::cuda_impl {

// Copies bytes from host src to device dst on stream s; false (nothing done) when bytes is
// larger than a slot.
bool staged_upload(int device, cudaStream_t s, void* dst, const void* src, std::size_t bytes);

}  // namespace vpmoe::cuda_impl
