#pragma once
// compute-sanitizer's initcheck does not see the stores of the cuBLAS(Lt) sm90 GEMM kernels:
// OpsCuda.GemmOutputIsWrittenWithoutAFill proves every output element written, yet initcheck
// reports the output as uninitialised when it is read. With VPMOE_SANITIZER_MARKS=1 (set by
// scripts/gpu-sanitize.sh, which runs the tool with --nvtx yes) each library GEMM's output is
// marked initialised through NVTX's memory API. Without it a mark is one predictable branch.
#include <cuda_runtime.h>

#include <cstdint>

namespace vpmoe::cuda_impl {

bool sanitizer_marks_enabled();

// A column-major output: `batch` blocks `stride` elements apart, each n columns of m elements
// `ld` apart. Only the written elements are marked (the gaps of ld > m stay as they were).
void mark_initialized(cudaStream_t s, const void* base, std::int64_t m, std::int64_t n,
                      std::int64_t ld, std::int64_t batch, std::int64_t stride,
                      std::int64_t elem_bytes);

}  // namespace vpmoe::cuda_impl
