// Fused attention forward (flash-attention 2 style): one block per (64 queries, batch, head),
// four warps of 16 query rows each. Scores, probabilities and the output accumulator stay in
// registers (mma.m16n8k16); the online softmax starts its running max at the head's softmax
// offset. The [T, T] scores never exist and a local layer visits only the key tiles its window
// reaches.
#include "ops/cuda/attention_args.h"
#include "ops/cuda/attention_mma.cuh"
#include "ops/cuda/attention_tile.cuh"
#include "ops/cuda/cuda_ops.h"

namespace vpmoe::ops::cuda {
namespace attn {
namespace {

template <int D>
constexpr int forward_smem() {
  return 4 * Layout<D>::tile * 2;  // K and V, double-buffered
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(Params p, const T* q, const T* k, const T* v, T* out, float* lse) {
  using L = Layout<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  // Buffers {K, V} x 2: the next key tile is copied (cp.async) while this one is used. Q
  // passes through the second K buffer on its way to registers.
  bf16_t* Kbuf[2] = {reinterpret_cast<bf16_t*>(smem),
                     reinterpret_cast<bf16_t*>(smem) + 2 * L::tile};
  bf16_t* Qs = Kbuf[1];

  const int h = blockIdx.y % p.nh, b = blockIdx.y / p.nh, g = h / p.per_group;
  // The longest rows (last query tiles, under a causal mask) start first.
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kRows;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = warp * 16;
  const int lg = lane >> 2, lt = lane & 3;  // accumulator rows lg, lg + 8; columns 2 lt, 2 lt + 1
  const std::int64_t qstride = std::int64_t(p.nh) * D, kstride = std::int64_t(p.ng) * D;
  const T* qb = q + (std::int64_t(b) * p.T * p.nh + h) * D;
  const T* kb = k + (std::int64_t(b) * p.T * p.ng + g) * D;
  const T* vb = v + (std::int64_t(b) * p.T * p.ng + g) * D;
  const float slope2 = p.slopes ? p.slopes[h] * kLog2e : 0.f;

  load_tile_sync<T, D>(Qs, qb, qstride, q0, p.T);
  __syncthreads();
  std::uint32_t qa[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) load_a(qa[kk], Qs + r * L::ld, L::ld, kk * 16, lane);

  float o[D / 8][4] = {};
  // Running max (base 2) and this lane's share of the denominator, rows lg and lg + 8. The
  // offset is one more logit: exp(o_h) relative to a max that starts at o_h is 1, counted once.
  float m_run[2], l_run[2];
#pragma unroll
  for (int rh = 0; rh < 2; ++rh) {
    m_run[rh] = p.sink ? p.sink[h] * kLog2e : -INFINITY;
    l_run[rh] = p.sink && lt == 0 ? 1.f : 0.f;
  }
  const int q_end = min(p.T, q0 + kRows), k_first = first_key_tile(q0, p.window);
  load_tile<T, D>(Kbuf[0], kb, kstride, k_first, p.T);
  load_tile<T, D>(Kbuf[0] + L::tile, vb, kstride, k_first, p.T);
  cp_async_commit();
  for (int k0 = k_first, buf = 0; k0 < q_end; k0 += kRows, buf ^= 1) {
    __syncthreads();  // everyone is done with the other buffer (and with Q's pass through it)
    const bool more = k0 + kRows < q_end;
    if (more) {
      load_tile<T, D>(Kbuf[buf ^ 1], kb, kstride, k0 + kRows, p.T);
      load_tile<T, D>(Kbuf[buf ^ 1] + L::tile, vb, kstride, k0 + kRows, p.T);
    }
    cp_async_commit();
    cp_async_wait<1>();  // this tile's copies have landed
    __syncthreads();
    const bf16_t* Ks = Kbuf[buf];
    const bf16_t* Vs = Kbuf[buf] + L::tile;
    float s[kRows / 8][4] = {};
#pragma unroll
    for (int np = 0; np < kRows / 16; ++np)
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        std::uint32_t kf[4];
        load_bt(kf, Ks, L::ld, np * 16, kk * 16, lane);
        mma_16816(s[2 * np], qa[kk], kf[0], kf[1]);
        mma_16816(s[2 * np + 1], qa[kk], kf[2], kf[3]);
      }
#pragma unroll
    for (int rh = 0; rh < 2; ++rh) {
      const int i = q0 + r + lg + rh * 8;
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < kRows / 8; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int j = k0 + n * 8 + 2 * lt + e;
          float& x = s[n][rh * 2 + e];
          x = allowed(i, j, p.T, p.window) ? x * p.scale2 - slope2 * float(i - j) : -INFINITY;
          mx = fmaxf(mx, x);
        }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m_run[rh], mx);
      const float alpha = m_run[rh] == -INFINITY ? 0.f : exp2f(m_run[rh] - m_new);
      float sum = 0.f;
#pragma unroll
      for (int n = 0; n < kRows / 8; ++n)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float& x = s[n][rh * 2 + e];
          x = x == -INFINITY ? 0.f : exp2f(x - m_new);
          sum += x;
        }
      l_run[rh] = l_run[rh] * alpha + sum;
      m_run[rh] = m_new;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) o[n][rh * 2] *= alpha, o[n][rh * 2 + 1] *= alpha;
    }
#pragma unroll
    for (int kk = 0; kk < kRows / 16; ++kk) {
      // The probabilities of keys [16 kk, 16 kk + 16) as an A fragment, straight from the
      // score accumulators.
      const std::uint32_t pa[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]),
                                   pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                                   pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                   pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        std::uint32_t vf[4];
        load_b(vf, Vs, L::ld, kk * 16, dp * 16, lane);
        mma_16816(o[2 * dp], pa, vf[0], vf[1]);
        mma_16816(o[2 * dp + 1], pa, vf[2], vf[3]);
      }
    }
  }
  T* ob = out + (std::int64_t(b) * p.T * p.nh + h) * D;
#pragma unroll
  for (int rh = 0; rh < 2; ++rh) {
    float l = l_run[rh];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int i = q0 + r + lg + rh * 8;
    if (i >= p.T) continue;
    const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      T* dst = ob + std::int64_t(i) * qstride + n * 8 + 2 * lt;
      dst[0] = from_f<T>(o[n][rh * 2] * inv);
      dst[1] = from_f<T>(o[n][rh * 2 + 1] * inv);
    }
    if (lt == 0)
      lse[(std::int64_t(b) * p.nh + h) * p.T + i] =
          l > 0.f ? (m_run[rh] + log2f(l)) / kLog2e : -INFINITY;
  }
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
