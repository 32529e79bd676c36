// Fused attention forward: one block per (64 queries, batch, head), online softmax over key
// tiles with the running max started at the head's softmax offset, so the [T, T] scores never
// exist and a local layer visits only the key tiles its window reaches.
#include "ops/cuda/attention_args.h"
#include "ops/cuda/attention_tile.cuh"
#include "ops/cuda/cuda_ops.h"

namespace vpmoe::ops::cuda {
namespace attn {
namespace {

template <int D>
constexpr int forward_smem() {
  using L = Layout<D>;
  return 3 * L::tile * 2 + L::scores * 4 + L::probs * 2 + kRows * L::ldo * 4 + 2 * kRows * 4;
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(Params p, const T* q, const T* k, const T* v, T* out, float* lse) {
  using L = Layout<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16_t* Qs = reinterpret_cast<bf16_t*>(smem);
  bf16_t* Ks = Qs + L::tile;
  bf16_t* Vs = Ks + L::tile;
  float* S = reinterpret_cast<float*>(Vs + L::tile);
  bf16_t* P = reinterpret_cast<bf16_t*>(S + L::scores);
  float* O = reinterpret_cast<float*>(P + L::probs);
  float* row_m = O + kRows * L::ldo;  // running max (base 2)
  float* row_l = row_m + kRows;       // running denominator relative to row_m

  const int h = blockIdx.y % p.nh, b = blockIdx.y / p.nh, g = h / p.per_group;
  // The longest rows (last query tiles, under a causal mask) start first.
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kRows;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = warp * 16;
  const std::int64_t qstride = std::int64_t(p.nh) * D, kstride = std::int64_t(p.ng) * D;
  const T* qb = q + (std::int64_t(b) * p.T * p.nh + h) * D;
  const T* kb = k + (std::int64_t(b) * p.T * p.ng + g) * D;
  const T* vb = v + (std::int64_t(b) * p.T * p.ng + g) * D;
  const float slope2 = p.slopes ? p.slopes[h] * kLog2e : 0.f;

  load_tile<T, D>(Qs, qb, qstride, q0, p.T);
  for (int e = threadIdx.x; e < kRows * L::ldo; e += kThreads) O[e] = 0.f;
  for (int e = threadIdx.x; e < kRows; e += kThreads) {
    // The offset is one more logit: exp(o_h) relative to a max that starts at o_h is 1.
    row_m[e] = p.sink ? p.sink[h] * kLog2e : -INFINITY;
    row_l[e] = p.sink ? 1.f : 0.f;
  }
  const int q_end = min(p.T, q0 + kRows);
  for (int k0 = first_key_tile(q0, p.window); k0 < q_end; k0 += kRows) {
    __syncthreads();  // the previous step is done with Ks and Vs
    load_tile<T, D>(Ks, kb, kstride, k0, p.T);
    load_tile<T, D>(Vs, vb, kstride, k0, p.T);
    __syncthreads();
    rows_times_tile_t<D>(Qs + r * L::ld, Ks, S + r * L::lds);
    __syncwarp();
    {
      // Two lanes per row, 32 keys each.
      const int row = r + (lane >> 1), half = lane & 1, i = q0 + row;
      float* srow = S + row * L::lds + half * 32;
      float mloc = -INFINITY;
#pragma unroll 8
      for (int c = 0; c < 32; ++c) {
        const int j = k0 + half * 32 + c;
        const float s =
            allowed(i, j, p.T, p.window) ? srow[c] * p.scale2 - slope2 * float(i - j) : -INFINITY;
        srow[c] = s;
        mloc = fmaxf(mloc, s);
      }
      mloc = fmaxf(mloc, __shfl_xor_sync(0xffffffffu, mloc, 1));
      const float m_old = row_m[row], m_new = fmaxf(m_old, mloc);
      const float alpha = m_old == -INFINITY ? 0.f : exp2f(m_old - m_new);
      bf16_t* prow = P + row * L::ldp + half * 32;
      float lsum = 0.f;
#pragma unroll 8
      for (int c = 0; c < 32; ++c) {
        const float e = srow[c] == -INFINITY ? 0.f : exp2f(srow[c] - m_new);
        prow[c] = f2bf(e);
        lsum += e;
      }
      lsum += __shfl_xor_sync(0xffffffffu, lsum, 1);
      float* orow = O + row * L::ldo + half * (D / 2);
#pragma unroll 8
      for (int c = 0; c < D / 2; ++c) orow[c] *= alpha;
      __syncwarp();  // both lanes of the row have read row_m
      if (half == 0) {
        row_m[row] = m_new;
        row_l[row] = row_l[row] * alpha + lsum;
      }
    }
    __syncwarp();
    FragC acc[D / 16];
#pragma unroll
    for (int n = 0; n < D / 16; ++n)
      wmma::load_matrix_sync(acc[n], O + r * L::ldo + n * 16, L::ldo, wmma::mem_row_major);
    probs_times_tile<D>(P + r * L::ldp, Vs, acc);
#pragma unroll
    for (int n = 0; n < D / 16; ++n)
      wmma::store_matrix_sync(O + r * L::ldo + n * 16, acc[n], L::ldo, wmma::mem_row_major);
  }
  __syncthreads();
  // The final 1/l per row (reuse S's first column as the row scale); lse in natural log.
  for (int e = threadIdx.x; e < kRows; e += kThreads) {
    const float l = row_l[e];
    S[e] = l > 0.f ? 1.f / l : 0.f;
    if (q0 + e < p.T)
      lse[(std::int64_t(b) * p.nh + h) * p.T + q0 + e] =
          l > 0.f ? (row_m[e] + log2f(l)) / kLog2e : -INFINITY;
  }
  __syncthreads();
  store_rows<T, D>(out + (std::int64_t(b) * p.T * p.nh + h) * D, qstride, q0, p.T, O, S);
}

}  // namespace
}  // namespace attn

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                       Tensor& out, Tensor& lse) {
  const attn::Params p = attn::make_params(q, k, v, a, "attention_forward");
  check_same_shape(out, q, "attention_forward: out");
  VPMOE_CHECK(out.dtype() == q.dtype(), "attention_forward: out must have q's dtype");
  check_dtype(lse, DType::f32, "attention_forward: lse");
  check_shape(lse, {p.B, p.nh, p.T}, "attention_forward: lse");
  if (q.numel() == 0) return;
  Launch L(q);
  dispatch_float(q.dtype(), "attention_forward", [&](auto tx) {
    using T = decltype(tx);
    attn::dispatch_head_dim(int(q.size(3)), "attention_forward", [&](auto dc) {
      constexpr int D = decltype(dc)::value;
      constexpr int smem = attn::forward_smem<D>();
      auto kernel = attn::forward_kernel<T, D>;
      VPMOE_CUDA_CHECK(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
      dim3 grid(unsigned((p.T + attn::kRows - 1) / attn::kRows), unsigned(p.B * p.nh));
      kernel<<<grid, attn::kThreads, smem, L.stream>>>(p, q.data_as<const T>(),
                                                       k.data_as<const T>(), v.data_as<const T>(),
                                                       out.data_as<T>(), lse.data_as<float>());
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace vpmoe::ops::cuda
