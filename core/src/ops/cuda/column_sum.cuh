#pragma once
// Deterministic column sums: out[s][c] (+)= sum over the rows r of segment s of term(r, c), for
// a [rows, C] grid cut into consecutive row segments (one for a plain column sum, one per MoE
// expert for grouped biases). Two fixed-order stages, no float atomics, so the result repeats bit
// for bit: chunks of at most kRowChunk rows (never crossing a segment) into partials, then each
// segment's partials in chunk order. Chunking inside a segment keeps a segment of many rows (a
// skewed expert) from running on one thread. Shared by the bias grads, RMSNorm's dw and others.
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "ops/cuda/common.cuh"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda::colsum {

constexpr int kColTile = 32;    // columns per block (one warp wide)
constexpr int kRowLanes = 8;    // rows handled in parallel per block
constexpr int kRowChunk = 256;  // rows per partial sum

// The chunks: table == nullptr is one segment [0, rows) in uniform chunks; otherwise table holds
// (r0, r1) per chunk, then the S + 1 chunk offsets of the segments.
struct Chunks {
  const std::int64_t* table;
  std::int64_t rows, chunks;
  __device__ void range(std::int64_t b, std::int64_t& r0, std::int64_t& r1) const {
    if (table) {
      r0 = table[2 * b], r1 = table[2 * b + 1];
    } else {
      r0 = b * kRowChunk, r1 = min(rows, r0 + kRowChunk);
    }
  }
  __device__ void of_segment(std::int64_t s, std::int64_t& k0, std::int64_t& k1) const {
    if (table) {
      k0 = table[2 * chunks + s], k1 = table[2 * chunks + s + 1];
    } else {
      k0 = 0, k1 = chunks;
    }
  }
};

template <class Term>
__global__ void partial_kernel(Chunks ch, std::int64_t C, Term term, float* partial) {
  __shared__ float s[kRowLanes][kColTile + 1];
  const std::int64_t c = blockIdx.x * std::int64_t(kColTile) + threadIdx.x;
  std::int64_t r0, r1;
  ch.range(blockIdx.y, r0, r1);
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

static __global__ void final_kernel(Chunks ch, std::int64_t C, const float* partial, float* out,
                                    bool accumulate) {
  const std::int64_t c = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  std::int64_t k0, k1;
  ch.of_segment(blockIdx.y, k0, k1);
  float t = 0.f;
  for (std::int64_t k = k0; k < k1; ++k) t += partial[k * C + c];
  float* o = out + std::int64_t(blockIdx.y) * C + c;
  *o = accumulate ? *o + t : t;
}

// Both stages for chunks ch over S segments; table (device, may be null) is freed after.
template <class Term>
void run(const Launch& L, Device dev, Chunks ch, std::int64_t S, std::int64_t C, Term term,
         float* out, bool accumulate, const char* op) {
  VPMOE_CHECK(ch.chunks < 65536 && S < 65536, std::string(op) + ": too many rows or segments");
  float* partial = nullptr;
  if (ch.chunks > 0) {
    partial = static_cast<float*>(device_alloc(dev, sizeof(float) * ch.chunks * C));
    const dim3 grid(unsigned((C + kColTile - 1) / kColTile), unsigned(ch.chunks));
    partial_kernel<<<grid, dim3(kColTile, kRowLanes), 0, L.stream>>>(ch, C, term, partial);
    VPMOE_CUDA_LAUNCH_CHECK();
  }
  if (S > 0) {
    final_kernel<<<dim3(unsigned((C + 255) / 256), unsigned(S)), 256, 0, L.stream>>>(
        ch, C, partial, out, accumulate);
    VPMOE_CUDA_LAUNCH_CHECK();
  }
  if (partial) device_free(dev, partial);
}

// out [C] f32 on dev; with rows == 0 it is cleared (or left, when accumulating).
template <class Term>
void column_sum(const Launch& L, Device dev, std::int64_t rows, std::int64_t C, Term term,
                float* out, bool accumulate, const char* op) {
  if (C == 0) return;
  run(L, dev, Chunks{nullptr, rows, (rows + kRowChunk - 1) / kRowChunk}, 1, C, term, out,
      accumulate, op);
}

// out [S, C] f32 on dev, segment s the next seg_rows[s] rows (counts on the host).
template <class Term>
void segmented_column_sum(const Launch& L, Device dev, std::span<const std::int64_t> seg_rows,
                          std::int64_t C, Term term, float* out, bool accumulate, const char* op) {
  const std::int64_t S = std::int64_t(seg_rows.size());
  if (C == 0 || S == 0) return;
  std::vector<std::int64_t> ranges, seg_chunks{0};
  std::int64_t r = 0;
  for (std::int64_t n : seg_rows) {
    VPMOE_CHECK(n >= 0, std::string(op) + ": negative row count");
    for (std::int64_t a = r; a < r + n; a += kRowChunk) {
      ranges.push_back(a);
      ranges.push_back(std::min(r + n, a + kRowChunk));
    }
    r += n;
    seg_chunks.push_back(std::int64_t(ranges.size() / 2));
  }
  const std::int64_t chunks = std::int64_t(ranges.size() / 2);
  ranges.insert(ranges.end(), seg_chunks.begin(), seg_chunks.end());
  auto* table = static_cast<std::int64_t*>(device_alloc(dev, sizeof(std::int64_t) * ranges.size()));
  device_copy(table, dev, ranges.data(), Device::cpu(), sizeof(std::int64_t) * ranges.size());
  run(L, dev, Chunks{table, r, chunks}, S, C, term, out, accumulate, op);
  device_free(dev, table);
}

}  // namespace vpmoe::ops::cuda::colsum
