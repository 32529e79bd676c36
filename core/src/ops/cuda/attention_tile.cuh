#pragma once
// Shared pieces of the fused attention kernels (spec/attention.md §2, §5, §6): tiles of 64 rows
// in shared memory as bf16, the mask, and stores from mma accumulators. One warp owns 16 rows
// of a tile, so the softmax bookkeeping needs only its quad of lanes.
#include <string>

#include "ops/cuda/attention_args.h"
#include "ops/cuda/attention_mma.cuh"
#include "ops/cuda/common.cuh"

namespace vpmoe::ops::cuda::attn {

constexpr int kRows = 64;  // queries (forward, dq) or keys (dk/dv) per block; also keys per step
constexpr int kWarps = kRows / 16;
constexpr int kThreads = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f;

// A 16-byte pad per row: the eight rows an ldmatrix reads fall in different bank groups.
template <int D>
struct Layout {
  static constexpr int ld = D + 8;         // bf16 elements per row of a [64, D] tile
  static constexpr int tile = kRows * ld;  // elements of one tile
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
// bf16 tile; rows past T are zero so that they add nothing (and no NaN) to a product. bf16
// rows are copied with cp.async: the caller commits and waits (load_tile_sync does both).
template <class T, int D>
__device__ void load_tile(bf16_t* s, const T* base, std::int64_t row_stride, int r0, int T_) {
  constexpr int ld = Layout<D>::ld, chunks = D / 8;
  for (int e = threadIdx.x; e < kRows * chunks; e += kThreads) {
    const int r = e / chunks, c = (e % chunks) * 8;
    bf16_t* dst = s + r * ld + c;
    if (r0 + r < T_) {
      const T* src = base + std::int64_t(r0 + r) * row_stride + c;
      if constexpr (std::is_same_v<T, bf16_t>) {
        cp_async16(dst, src);  // bf16 needs no conversion: copied asynchronously
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

template <class T, int D>
__device__ void load_tile_sync(bf16_t* s, const T* base, std::int64_t row_stride, int r0, int T_) {
  load_tile<T, D>(s, base, row_stride, r0, T_);
  cp_async_commit();
  cp_async_wait<0>();
}

// Rows row0 and row0 + 8 (< T) of a warp's [16, D] mma accumulator to global rows of `stride`.
template <class T, int D>
__device__ void store_fragment_rows(T* base, std::int64_t stride, int row0, int T_, int lt,
                                    const float (&acc)[D / 8][4]) {
#pragma unroll
  for (int rh = 0; rh < 2; ++rh) {
    const int i = row0 + rh * 8;
    if (i >= T_) continue;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      T* dst = base + std::int64_t(i) * stride + n * 8 + 2 * lt;
      dst[0] = from_f<T>(acc[n][rh * 2]);
      dst[1] = from_f<T>(acc[n][rh * 2 + 1]);
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
