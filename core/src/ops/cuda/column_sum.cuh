#pragma once
// Deterministic column sums: out[c] (+)= sum over rows r of term(r, c), for a [rows, C] grid.
// Two fixed-order stages (row chunks into partials, then partials in chunk order), no float
// atomics, so the result repeats bit for bit. Shared by bias_grad and RMSNorm's dw.
#include "ops/cuda/common.cuh"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda::colsum {

constexpr int kColTile = 32;    // columns per block (one warp wide)
constexpr int kRowLanes = 8;    // rows handled in parallel per block
constexpr int kRowChunk = 256;  // rows per partial sum

template <class Term>
__global__ void partial_kernel(std::int64_t rows, std::int64_t C, Term term, float* partial) {
  __shared__ float s[kRowLanes][kColTile + 1];
  std::int64_t c = blockIdx.x * std::int64_t(kColTile) + threadIdx.x;
  std::int64_t r0 = std::int64_t(blockIdx.y) * kRowChunk;
  std::int64_t r1 = min(rows, r0 + kRowChunk);
  float acc = 0.f;
  if (c < C)
    for (std::int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) acc += term(r, c);
  s[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float t = 0.f;
#pragma unroll
    for (int i = 0; i < kRowLanes; ++i) t += s[i][threadIdx.x];
    partial[std::int64_t(blockIdx.y) * C + c] = t;
  }
}

static __global__ void final_kernel(std::int64_t chunks, std::int64_t C, const float* partial,
                                    float* out, bool accumulate) {
  std::int64_t c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  float t = 0.f;
  for (std::int64_t k = 0; k < chunks; ++k) t += partial[k * C + c];
  out[c] = accumulate ? out[c] + t : t;
}

// out [C] f32 on dev; with rows == 0 it is cleared (or left, when accumulating).
template <class Term>
void column_sum(const Launch& L, Device dev, std::int64_t rows, std::int64_t C, Term term,
                float* out, bool accumulate, const char* op) {
  if (C == 0) return;
  std::int64_t chunks = (rows + kRowChunk - 1) / kRowChunk;
  VPMOE_CHECK(chunks < 65536, std::string(op) + ": too many rows");
  float* partial = nullptr;
  if (chunks > 0) {
    partial = static_cast<float*>(device_alloc(dev, sizeof(float) * chunks * C));
    dim3 grid(unsigned((C + kColTile - 1) / kColTile), unsigned(chunks));
    partial_kernel<<<grid, dim3(kColTile, kRowLanes), 0, L.stream>>>(rows, C, term, partial);
    VPMOE_CUDA_LAUNCH_CHECK();
  }
  final_kernel<<<unsigned((C + 255) / 256), 256, 0, L.stream>>>(chunks, C, partial, out,
                                                                accumulate);
  VPMOE_CUDA_LAUNCH_CHECK();
  if (partial) device_free(dev, partial);
}

}  // namespace vpmoe::ops::cuda::colsum
