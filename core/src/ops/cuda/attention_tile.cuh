#pragma once
// Shared pieces of the fused attention kernels (spec/attention.md §2, §5, §6): tiles of 64 rows
// in shared memory as bf16, 16x16x16 tensor-core products (WMMA) with fp32 accumulation, the
// mask, and the argument checks. One warp owns 16 rows of every per-row buffer, so the softmax
// bookkeeping needs only warp-level synchronisation.
#include <mma.h>

#include <string>

#include "ops/cuda/attention_args.h"
#include "ops/cuda/common.cuh"

namespace vpmoe::ops::cuda::attn {

namespace wmma = nvcuda::wmma;

constexpr int kRows = 64;  // queries (forward, dq) or keys (dk/dv) per block; also keys per step
constexpr int kWarps = kRows / 16;
constexpr int kThreads = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f;

// Paddings keep WMMA pointers 32-byte aligned while breaking shared-memory bank conflicts.
template <int D>
struct Layout {
  static constexpr int ld = D + 8;            // bf16 [64, D] tiles
  static constexpr int lds = kRows + 4;       // f32 [64, 64] scores
  static constexpr int ldp = kRows + 8;       // bf16 [64, 64] probabilities
  static constexpr int ldo = D + 4;           // f32 [64, D] accumulators
  static constexpr int tile = kRows * ld;     // elements of one bf16 tile
  static constexpr int scores = kRows * lds;  // elements of one f32 score tile
  static constexpr int probs = kRows * ldp;
};

__device__ __forceinline__ bool allowed(int i, int j, int T, int window) {
  return i < T && j <= i && (window <= 0 || i - j < window);
}

// First key (rounded down to a tile) any query of [q0, q0 + 64) may see.
__host__ __device__ inline int first_key_tile(int q0, int window) {
  const int lo = window > 0 ? (q0 - window + 1 > 0 ? q0 - window + 1 : 0) : 0;
  return lo / kRows * kRows;
}

// Rows [r0, r0 + 64) of one head of x [B, T, heads, D] (base points at (b, 0, head)) into a
// bf16 tile; rows past T are zero so that they add nothing (and no NaN) to a product.
template <class T, int D>
__device__ void load_tile(bf16_t* s, const T* base, std::int64_t row_stride, int r0, int T_) {
  constexpr int ld = Layout<D>::ld, chunks = D / 8;
  for (int e = threadIdx.x; e < kRows * chunks; e += kThreads) {
    const int r = e / chunks, c = (e % chunks) * 8;
    bf16_t* dst = s + r * ld + c;
    if (r0 + r < T_) {
      const T* src = base + std::int64_t(r0 + r) * row_stride + c;
      if constexpr (std::is_same_v<T, bf16_t>) {
        *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
      } else {
        const float4 a = reinterpret_cast<const float4*>(src)[0];
        const float4 b = reinterpret_cast<const float4*>(src)[1];
        dst[0] = f2bf(a.x), dst[1] = f2bf(a.y), dst[2] = f2bf(a.z), dst[3] = f2bf(a.w);
        dst[4] = f2bf(b.x), dst[5] = f2bf(b.y), dst[6] = f2bf(b.z), dst[7] = f2bf(b.w);
      }
    } else {
      *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
    }
  }
}

// Rows of an f32 [64, D] accumulator (times row_scale[r] when given) to global rows < T.
template <class T, int D>
__device__ void store_rows(T* base, std::int64_t row_stride, int r0, int T_, const float* acc,
                           const float* row_scale) {
  constexpr int ldo = Layout<D>::ldo;
  for (int e = threadIdx.x; e < kRows * D; e += kThreads) {
    const int r = e / D, c = e % D;
    if (r0 + r >= T_) continue;
    const float f = row_scale ? row_scale[r] : 1.f;
    base[std::int64_t(r0 + r) * row_stride + c] = from_f<T>(acc[r * ldo + c] * f);
  }
}

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16_t, wmma::row_major>;
using FragBt = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16_t, wmma::col_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16_t, wmma::row_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// out[16, 64] (f32, ld lds) = a[16 rows of this warp, D] . b[64, D]^T, both bf16 tiles.
template <int D>
__device__ void rows_times_tile_t(const bf16_t* a, const bf16_t* b, float* out) {
  constexpr int ld = Layout<D>::ld, lds = Layout<D>::lds;
#pragma unroll
  for (int n = 0; n < kRows / 16; ++n) {
    FragC acc;
    wmma::fill_fragment(acc, 0.f);
#pragma unroll
    for (int kk = 0; kk < D; kk += 16) {
      FragA fa;
      FragBt fb;
      wmma::load_matrix_sync(fa, a + kk, ld);
      wmma::load_matrix_sync(fb, b + n * 16 * ld + kk, ld);
      wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(out + n * 16, acc, lds, wmma::mem_row_major);
  }
}

// acc[n] += p[16 rows, 64] (bf16, ld ldp) . b[64, D] (bf16 tile), for the D/16 column tiles.
template <int D>
__device__ void probs_times_tile(const bf16_t* p, const bf16_t* b, FragC* acc) {
  constexpr int ld = Layout<D>::ld, ldp = Layout<D>::ldp;
#pragma unroll
  for (int kk = 0; kk < kRows; kk += 16) {
    FragA fa;
    wmma::load_matrix_sync(fa, p + kk, ldp);
#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      FragB fb;
      wmma::load_matrix_sync(fb, b + kk * ld + n * 16, ld);
      wmma::mma_sync(acc[n], fa, fb, acc[n]);
    }
  }
}

// Head dims with a kernel instance; others are refused by name.
template <class F>
void dispatch_head_dim(int d, const char* op, F&& f) {
  switch (d) {
    case 16:
      f(std::integral_constant<int, 16>{});
      break;
    case 32:
      f(std::integral_constant<int, 32>{});
      break;
    case 64:
      f(std::integral_constant<int, 64>{});
      break;
    case 128:
      f(std::integral_constant<int, 128>{});
      break;
    default:
      throw Error(std::string(op) + ": CUDA kernels exist for head_dim 16, 32, 64, 128; got " +
                  std::to_string(d));
  }
}

}  // namespace vpmoe::ops::cuda::attn
