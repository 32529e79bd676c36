// The expert weight gradient c[g] = alpha a_g^T b_g + beta c[g] for bf16 rows and an f32 c
// (the main grads), on the tensor cores: cuBLAS's grouped call has no bf16-in / f32-out mode.
// One block per (64 x 64 tile of c[g], group g): it walks the group's rows 32 at a time through
// shared memory (zero-filled past the group's end) into WMMA bf16 fragments with fp32
// accumulators, then writes alpha acc + beta c. Each element's sum runs in a fixed order:
// deterministic.
#include <mma.h>

#include "ops/cuda/common.cuh"
#include "ops/cuda/gemm_wgrad_kernel.h"
#include "ops/cuda/group_offsets.h"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kTileM = 64, kTileN = 64, kStep = 32, kThreads = 128;
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
    grouped_wgrad_kernel(const bf16_t* a, const bf16_t* b, float* c, const std::int64_t* off,
                         std::int64_t K, std::int64_t N, int tiles_n, float alpha, float beta,
                         bool vec) {
  using namespace nvcuda;
  __shared__ __align__(32) bf16_t sa[kStep][kPadA];
  __shared__ __align__(32) bf16_t sb[kStep][kPadB];
  __shared__ __align__(32) float sc[kTileM][kPadC];
  const int g = int(blockIdx.y);
  const std::int64_t k0 = std::int64_t(blockIdx.x / tiles_n) * kTileM;
  const std::int64_t n0 = std::int64_t(blockIdx.x % tiles_n) * kTileN;
  const std::int64_t r0 = off[g], r1 = off[g + 1];
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
  float* cg = c + std::int64_t(g) * K * N;
  for (int i = int(threadIdx.x); i < kTileM * kTileN; i += kThreads) {
    const int m = i / kTileN, n = i % kTileN;
    const std::int64_t km = k0 + m, nn = n0 + n;
    if (km >= K || nn >= N) continue;
    float* p = cg + km * N + nn;
    *p = beta == 0.f ? alpha * sc[m][n] : alpha * sc[m][n] + beta * *p;  // beta 0 clears NaN
  }
}

}  // namespace

void grouped_wgrad_bf16_f32(const Tensor& a, const Tensor& b, Tensor& c,
                            std::span<const std::int64_t> rows, float alpha, float beta) {
  const std::int64_t K = a.size(1), N = b.size(1), G = c.size(0);
  Launch L(c);
  std::int64_t* d_off =
      upload_group_offsets(rows.first(std::size_t(G)), c.device(), "gemm_grouped_wgrad", a.size(0));
  const int tiles_m = int((K + kTileM - 1) / kTileM), tiles_n = int((N + kTileN - 1) / kTileN);
  const bool vec = K % kVec == 0 && N % kVec == 0 && aligned16(a.data()) && aligned16(b.data());
  grouped_wgrad_kernel<<<dim3(unsigned(tiles_m * tiles_n), unsigned(G)), kThreads, 0, L.stream>>>(
      a.data_as<const bf16_t>(), b.data_as<const bf16_t>(), c.data_as<float>(), d_off, K, N,
      tiles_n, alpha, beta, vec);
  VPMOE_CUDA_LAUNCH_CHECK();
  device_free(c.device(), d_off);
}

}  // namespace vpmoe::ops::cuda
