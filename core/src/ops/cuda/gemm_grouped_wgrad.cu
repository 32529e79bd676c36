// The expert weight gradient c[g] = alpha a_g^T b_g + beta c[g] for bf16 rows and an f32 c
// (the main grads), on the tensor cores: cuBLAS's grouped call has no bf16-in / f32-out mode.
// A group's rows are cut into chunks of at most kRowChunk, so that a skewed expert (thousands of
// rows) spreads over many blocks instead of one long walk. One block per (64 x 64 tile of c,
// chunk): it walks the chunk's rows 32 at a time through shared memory (zero-filled past the end)
// into WMMA bf16 fragments with fp32 accumulators. A group's first chunk writes alpha acc + beta c;
// its further chunks write to a workspace that a second kernel adds to c in chunk order. Every
// element's sum runs in a fixed order: deterministic.
#include <mma.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/cuda/common.cuh"
#include "ops/cuda/gemm_wgrad_kernel.h"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kTileM = 64, kTileN = 64, kStep = 32, kThreads = 128;
constexpr std::int64_t kRowChunk = 512;

// A chunk of a group's rows: [r0, r1) of group g; slot < 0 writes c, else workspace slot.
struct Chunk {
  std::int64_t g, r0, r1, slot;
};
constexpr int kPadA = kTileM + 8, kPadB = kTileN + 8, kPadC = kTileN + 4;

// rows x cols of src (row-major, ld) starting at (r, c0) -> dst [kStep][pad], zero outside.
template <int Cols, int Pad>
__device__ __forceinline__ void load_tile(const bf16_t* src, std::int64_t ld, std::int64_t r,
                                          std::int64_t r_end, std::int64_t c0, std::int64_t c_end,
                                          bool vec, bf16_t (*dst)[Pad]) {
  constexpr int kPacks = kStep * Cols / kVec;
  for (int i = int(threadIdx.x); i < kPacks; i += kThreads) {
    const int rr = i / (Cols / kVec), cc = (i % (Cols / kVec)) * kVec;
    const std::int64_t row = r + rr, col = c0 + cc;
    Pack<bf16_t> p;
    if (vec && row < r_end && col + kVec <= c_end) {
      p = *reinterpret_cast<const Pack<bf16_t>*>(src + row * ld + col);
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j)
        p.v[j] = (row < r_end && col + j < c_end) ? src[row * ld + col + j] : __float2bfloat16(0.f);
    }
    *reinterpret_cast<Pack<bf16_t>*>(&dst[rr][cc]) = p;
  }
}

__global__ void __launch_bounds__(kThreads)
    grouped_wgrad_kernel(const bf16_t* a, const bf16_t* b, float* c, float* ws, const Chunk* chunks,
                         std::int64_t K, std::int64_t N, int tiles_n, float alpha, float beta,
                         bool vec) {
  using namespace nvcuda;
  __shared__ __align__(32) bf16_t sa[kStep][kPadA];
  __shared__ __align__(32) bf16_t sb[kStep][kPadB];
  __shared__ __align__(32) float sc[kTileM][kPadC];
  const Chunk ch = chunks[blockIdx.y];
  const std::int64_t k0 = std::int64_t(blockIdx.x / tiles_n) * kTileM;
  const std::int64_t n0 = std::int64_t(blockIdx.x % tiles_n) * kTileN;
  const std::int64_t r0 = ch.r0, r1 = ch.r1;
  const int w = int(threadIdx.x) / 32, wm = (w / 2) * 32, wn = (w % 2) * 32;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  for (std::int64_t r = r0; r < r1; r += kStep) {
    load_tile<kTileM, kPadA>(a, K, r, r1, k0, K, vec, sa);
    load_tile<kTileN, kPadB>(b, N, r, r1, n0, N, vec, sb);
    __syncthreads();
#pragma unroll
    for (int s = 0; s < kStep; s += 16) {
      // a^T: element (m, kk) of the A operand is sa[s + kk][m], a column-major view.
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16_t, wmma::col_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16_t, wmma::row_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], &sa[s][wm + 16 * i], kPadA);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &sb[s][wn + 16 * j], kPadB);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&sc[wm + 16 * i][wn + 16 * j], acc[i][j], kPadC, wmma::mem_row_major);
  __syncthreads();
  const bool direct = ch.slot < 0;
  float* cg = direct ? c + ch.g * K * N : ws + ch.slot * K * N;
  for (int i = int(threadIdx.x); i < kTileM * kTileN; i += kThreads) {
    const int m = i / kTileN, n = i % kTileN;
    const std::int64_t km = k0 + m, nn = n0 + n;
    if (km >= K || nn >= N) continue;
    float* p = cg + km * N + nn;
    if (!direct)
      *p = sc[m][n];
    else
      *p = beta == 0.f ? alpha * sc[m][n] : alpha * sc[m][n] + beta * *p;  // beta 0 clears NaN
  }
}

// c[g] += alpha * (workspace slots first .. first + count - 1, in order), for one split group
// per blockIdx.y: (g, first, count) triples.
__global__ void add_chunks_kernel(float* c, const float* ws, const std::int64_t* split,
                                  std::int64_t KN, float alpha) {
  const std::int64_t g = split[3 * blockIdx.y], first = split[3 * blockIdx.y + 1],
                     count = split[3 * blockIdx.y + 2];
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < KN;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    float t = 0.f;
    for (std::int64_t k = 0; k < count; ++k) t += ws[(first + k) * KN + e];
    c[g * KN + e] += alpha * t;
  }
}

}  // namespace

void grouped_wgrad_bf16_f32(const Tensor& a, const Tensor& b, Tensor& c,
                            std::span<const std::int64_t> rows, float alpha, float beta) {
  const std::int64_t K = a.size(1), N = b.size(1), G = c.size(0);
  const Device dev = c.device();
  Launch L(c);
  // The chunks (every group has one, an empty group's clears or scales c) and the split groups.
  std::vector<Chunk> chunks;
  std::vector<std::int64_t> split;
  std::int64_t r = 0, slots = 0;
  for (std::int64_t g = 0; g < G; ++g) {
    const std::int64_t n = rows[std::size_t(g)];
    VPMOE_CHECK(n >= 0, "gemm_grouped_wgrad: negative row count");
    chunks.push_back({g, r, r + std::min(n, kRowChunk), -1});
    if (n > kRowChunk) {
      split.insert(split.end(), {g, slots, (n - 1) / kRowChunk});
      for (std::int64_t a0 = r + kRowChunk; a0 < r + n; a0 += kRowChunk)
        chunks.push_back({g, a0, std::min(r + n, a0 + kRowChunk), slots++});
    }
    r += n;
  }
  VPMOE_CHECK(r == a.size(0), "gemm_grouped_wgrad: row counts sum to " + std::to_string(r) +
                                  ", a has " + std::to_string(a.size(0)) + " rows");
  VPMOE_CHECK(chunks.size() < 65536, "gemm_grouped_wgrad: too many row chunks");
  const std::size_t table_bytes = chunks.size() * sizeof(Chunk) + split.size() * 8;
  auto* table = static_cast<char*>(device_alloc(dev, table_bytes));
  std::vector<char> host(table_bytes);
  std::memcpy(host.data(), chunks.data(), chunks.size() * sizeof(Chunk));
  std::memcpy(host.data() + chunks.size() * sizeof(Chunk), split.data(), split.size() * 8);
  device_copy(table, dev, host.data(), Device::cpu(), table_bytes);
  float* ws =
      slots ? static_cast<float*>(device_alloc(dev, sizeof(float) * slots * K * N)) : nullptr;
  const int tiles_m = int((K + kTileM - 1) / kTileM), tiles_n = int((N + kTileN - 1) / kTileN);
  const bool vec = K % kVec == 0 && N % kVec == 0 && aligned16(a.data()) && aligned16(b.data());
  grouped_wgrad_kernel<<<dim3(unsigned(tiles_m * tiles_n), unsigned(chunks.size())), kThreads, 0,
                         L.stream>>>(a.data_as<const bf16_t>(), b.data_as<const bf16_t>(),
                                     c.data_as<float>(), ws, reinterpret_cast<const Chunk*>(table),
                                     K, N, tiles_n, alpha, beta, vec);
  VPMOE_CUDA_LAUNCH_CHECK();
  if (!split.empty()) {
    const auto* s = reinterpret_cast<const std::int64_t*>(table + chunks.size() * sizeof(Chunk));
    add_chunks_kernel<<<dim3(unsigned(std::min<std::int64_t>((K * N + 255) / 256, 256)),
                             unsigned(split.size() / 3)),
                        256, 0, L.stream>>>(c.data_as<float>(), ws, s, K * N, alpha);
    VPMOE_CUDA_LAUNCH_CHECK();
  }
  if (ws) device_free(dev, ws);
  device_free(dev, table);
}

}  // namespace vpmoe::ops::cuda
