#pragma once
// Warp-level tensor-core pieces for the attention kernels: ldmatrix loads from shared memory
// and the m16n8k16 bf16 product with fp32 accumulation. Unlike WMMA, this fragment layout is
// documented (PTX ISA, "mma.m16n8k16"): lane = 4 g + t holds rows g and g + 8, columns 2t and
// 2t + 1 of each 16x8 accumulator, so the softmax can rescale rows in registers.
#include <cuda_bf16.h>

#include <cstdint>

namespace vpmoe::ops::cuda::attn {

__device__ __forceinline__ std::uint32_t smem_addr(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// Four 8x8 b16 matrices; lane l gives the address of row l % 8 of matrix l / 8.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// c[16x8] += a[16x16] . b[16x8] (a row-major fragment, b column-major).
__device__ __forceinline__ void mma_16816(float (&c)[4], const std::uint32_t (&a)[4],
                                          std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats as a bf16 pair (lo in the low half: the lower column), round to nearest even.
__device__ __forceinline__ std::uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<std::uint32_t*>(&v);
}

// A fragment of rows [0, 16) x cols [c0, c0 + 16) of a row-major bf16 tile (ld elements/row).
__device__ __forceinline__ void load_a(std::uint32_t (&a)[4], const __nv_bfloat16* tile, int ld,
                                       int c0, int lane) {
  ldmatrix_x4(a, tile + (lane & 15) * ld + c0 + (lane >> 4) * 8);
}

// B fragments (k = 16 columns from c0, n = 8 rows) for rows [n0, n0 + 16) of a row-major
// tile whose rows are the n index: b[0..1] for rows n0..n0+7, b[2..3] for n0+8..n0+15.
// (x . tile^T, e.g. q . k^T with k stored [key, d].)
__device__ __forceinline__ void load_bt(std::uint32_t (&b)[4], const __nv_bfloat16* tile, int ld,
                                        int n0, int c0, int lane) {
  const int m = lane >> 3;
  ldmatrix_x4(b, tile + (n0 + (lane & 7) + (m >> 1) * 8) * ld + c0 + (m & 1) * 8);
}

// B fragments (k = 16 rows from k0, n = 8 columns) for columns [n0, n0 + 16) of a row-major
// tile whose rows are the k index: b[0..1] for columns n0..n0+7, b[2..3] for n0+8..n0+15.
// (p . v with v stored [key, d].)
__device__ __forceinline__ void load_b(std::uint32_t (&b)[4], const __nv_bfloat16* tile, int ld,
                                       int k0, int n0, int lane) {
  const int m = lane >> 3;
  ldmatrix_x4_trans(b, tile + (k0 + (lane & 7) + (m & 1) * 8) * ld + n0 + (m >> 1) * 8);
}

// 16 bytes global -> shared without a register round trip; completes at cp_async_wait.
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
// Waits until at most n of this thread's committed groups are still in flight.
template <int n>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(n));
}

}  // namespace vpmoe::ops::cuda::attn
