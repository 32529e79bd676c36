// Fused attention backward, deterministic (no atomics): a row-term kernel (D_i = dO_i . o_i and
// the softmax-offset terms), one kernel for dk/dv per (64 keys, query head) that loops over the
// queries that see those keys (the group's heads summed afterwards in a fixed order), and one
// for dq per (64 queries, head) that loops over the keys they see. Both recompute p from q, k
// and the saved lse.
#include "ops/cuda/attention_args.h"
#include "ops/cuda/attention_mma.cuh"
#include "ops/cuda/attention_tile.cuh"
#include "ops/cuda/column_sum.cuh"
#include "ops/cuda/cuda_ops.h"

namespace vpmoe::ops::cuda {
namespace attn {
namespace {

// D_i in [B, nh, T]: one warp per (b, i, h) row.
template <class T>
__global__ void row_dot_kernel(Params p, int d, const T* dout, const T* out, float* D) {
  const std::int64_t row = (std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= std::int64_t(p.B) * p.T * p.nh) return;
  const T* g = dout + row * d;
  const T* o = out + row * d;
  float s = 0.f;
  for (int c = lane; c < d; c += 32) s += to_f(g[c]) * to_f(o[c]);
  s = warp_sum(s);
  if (lane == 0) {
    const std::int64_t h = row % p.nh, bt = row / p.nh, b = bt / p.T, i = bt % p.T;
    D[(b * p.nh + h) * p.T + i] = s;
  }
}

// dL/d offset_h = -sum over (b, i) of p_sink * D_i, p_sink = exp(o_h - lse).
struct SinkTerm {
  Params p;
  const float* lse;
  const float* D;
  __device__ float operator()(std::int64_t r, std::int64_t h) const {
    const std::int64_t b = r / p.T, i = r % p.T, at = (b * p.nh + h) * p.T + i;
    return -expf(p.sink[h] - lse[at]) * D[at];
  }
};

template <int D>
constexpr int dq_smem() {
  return 4 * Layout<D>::tile * 2;
}

// One block per (64 queries, batch, head): dq = sum over the keys the rows see of
// dS K scale, dS = P (dP - D_i), with S, dP, P and dq in registers.
template <class T, int D>
__global__ void __launch_bounds__(kThreads)
    dq_kernel(Params p, const T* q, const T* k, const T* v, const T* dout, const float* lse,
              const float* Dsum, T* dq) {
  using L = Layout<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16_t* Qs = reinterpret_cast<bf16_t*>(smem);
  bf16_t* Gs = Qs + L::tile;  // dO
  bf16_t* Ks = Gs + L::tile;
  bf16_t* Vs = Ks + L::tile;

  const int h = blockIdx.y % p.nh, b = blockIdx.y / p.nh, g = h / p.per_group;
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kRows;  // longest rows first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = warp * 16;
  const int lg = lane >> 2, lt = lane & 3;
  const std::int64_t qstride = std::int64_t(p.nh) * D, kstride = std::int64_t(p.ng) * D;
  const std::int64_t qoff = (std::int64_t(b) * p.T * p.nh + h) * D;
  const std::int64_t koff = (std::int64_t(b) * p.T * p.ng + g) * D;
  const float slope2 = p.slopes ? p.slopes[h] * kLog2e : 0.f;

  load_tile_sync<T, D>(Qs, q + qoff, qstride, q0, p.T);
  load_tile_sync<T, D>(Gs, dout + qoff, qstride, q0, p.T);
  float lse2[2], Di[2];
#pragma unroll
  for (int rh = 0; rh < 2; ++rh) {
    const int i = q0 + r + lg + rh * 8;
    const std::int64_t at = (std::int64_t(b) * p.nh + h) * p.T + i;
    lse2[rh] = i < p.T ? lse[at] * kLog2e : 0.f;
    Di[rh] = i < p.T ? Dsum[at] : 0.f;
  }
  float acc[D / 8][4] = {};
  const int q_end = min(p.T, q0 + kRows);
  for (int k0 = first_key_tile(q0, p.window); k0 < q_end; k0 += kRows) {
    __syncthreads();
    load_tile_sync<T, D>(Ks, k + koff, kstride, k0, p.T);
    load_tile_sync<T, D>(Vs, v + koff, kstride, k0, p.T);
    __syncthreads();
    float s[kRows / 8][4] = {}, dp[kRows / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      std::uint32_t qa[4], ga[4];
      load_a(qa, Qs + r * L::ld, L::ld, kk * 16, lane);
      load_a(ga, Gs + r * L::ld, L::ld, kk * 16, lane);
#pragma unroll
      for (int np = 0; np < kRows / 16; ++np) {
        std::uint32_t kf[4], vf[4];
        load_bt(kf, Ks, L::ld, np * 16, kk * 16, lane);
        load_bt(vf, Vs, L::ld, np * 16, kk * 16, lane);
        mma_16816(s[2 * np], qa, kf[0], kf[1]);
        mma_16816(s[2 * np + 1], qa, kf[2], kf[3]);
        mma_16816(dp[2 * np], ga, vf[0], vf[1]);
        mma_16816(dp[2 * np + 1], ga, vf[2], vf[3]);
      }
    }
#pragma unroll
    for (int n = 0; n < kRows / 8; ++n)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int rh = c >> 1, i = q0 + r + lg + rh * 8, j = k0 + n * 8 + 2 * lt + (c & 1);
        const float pij = allowed(i, j, p.T, p.window)
                              ? exp2f(s[n][c] * p.scale2 - slope2 * float(i - j) - lse2[rh])
                              : 0.f;
        s[n][c] = pij * (dp[n][c] - Di[rh]) * p.scale;  // dS
      }
#pragma unroll
    for (int kk = 0; kk < kRows / 16; ++kk) {
      const std::uint32_t da[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]),
                                   pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                                   pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                   pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dpi = 0; dpi < D / 16; ++dpi) {
        std::uint32_t kf[4];
        load_b(kf, Ks, L::ld, kk * 16, dpi * 16, lane);
        mma_16816(acc[2 * dpi], da, kf[0], kf[1]);
        mma_16816(acc[2 * dpi + 1], da, kf[2], kf[3]);
      }
    }
  }
  store_fragment_rows<T, D>(dq + qoff, qstride, q0 + r + lg, p.T, lt, acc);
}

template <int D>
constexpr int dkv_smem() {
  return 4 * Layout<D>::tile * 2 + 2 * kRows * 4;
}

// One block per (64 keys, batch, query head): that head's share of dk and dv, written to
// O rows of `ostride` (the final dk/dv when a group has one head, else per-head f32 partials
// that sum_heads_kernel adds in a fixed order). Per-head blocks keep the grid wide. Works on
// the transposed scores S^T = K Q^T so that each warp owns 16 keys.
template <class T, class O, int D>
__global__ void __launch_bounds__(kThreads)
    dkv_kernel(Params p, const T* q, const T* k, const T* v, const T* dout, const float* lse,
               const float* Dsum, O* dk, O* dv, std::int64_t ostride, int oheads) {
  using L = Layout<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16_t* Ks = reinterpret_cast<bf16_t*>(smem);
  bf16_t* Vs = Ks + L::tile;
  bf16_t* Qs = Vs + L::tile;
  bf16_t* Gs = Qs + L::tile;  // dO
  float* lse2 = reinterpret_cast<float*>(Gs + L::tile);
  float* Di = lse2 + kRows;

  const int h = blockIdx.y % p.nh, b = blockIdx.y / p.nh, g = h / p.per_group;
  const int j0 = blockIdx.x * kRows;  // the first key tiles see the most queries: start first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = warp * 16;
  const int lg = lane >> 2, lt = lane & 3;
  const std::int64_t qstride = std::int64_t(p.nh) * D, kstride = std::int64_t(p.ng) * D;
  const std::int64_t koff = (std::int64_t(b) * p.T * p.ng + g) * D;
  const std::int64_t qoff = (std::int64_t(b) * p.T * p.nh + h) * D;
  const float slope2 = p.slopes ? p.slopes[h] * kLog2e : 0.f;

  load_tile_sync<T, D>(Ks, k + koff, kstride, j0, p.T);
  load_tile_sync<T, D>(Vs, v + koff, kstride, j0, p.T);
  float dK[D / 8][4] = {}, dV[D / 8][4] = {};
  // The last query that sees key j0 + 63 (window) or the sequence end (causal).
  const int q_end = p.window > 0 ? min(p.T, j0 + kRows + p.window - 1) : p.T;
  for (int q0 = j0; q0 < q_end; q0 += kRows) {
    __syncthreads();
    load_tile_sync<T, D>(Qs, q + qoff, qstride, q0, p.T);
    load_tile_sync<T, D>(Gs, dout + qoff, qstride, q0, p.T);
    for (int e = threadIdx.x; e < kRows; e += kThreads) {
      const bool in = q0 + e < p.T;
      const std::int64_t at = (std::int64_t(b) * p.nh + h) * p.T + q0 + e;
      lse2[e] = in ? lse[at] * kLog2e : 0.f;
      Di[e] = in ? Dsum[at] : 0.f;
    }
    __syncthreads();
    float st[kRows / 8][4] = {}, dpt[kRows / 8][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      std::uint32_t ka[4], va[4];
      load_a(ka, Ks + r * L::ld, L::ld, kk * 16, lane);
      load_a(va, Vs + r * L::ld, L::ld, kk * 16, lane);
#pragma unroll
      for (int np = 0; np < kRows / 16; ++np) {
        std::uint32_t qf[4], gf[4];
        load_bt(qf, Qs, L::ld, np * 16, kk * 16, lane);
        load_bt(gf, Gs, L::ld, np * 16, kk * 16, lane);
        mma_16816(st[2 * np], ka, qf[0], qf[1]);
        mma_16816(st[2 * np + 1], ka, qf[2], qf[3]);
        mma_16816(dpt[2 * np], va, gf[0], gf[1]);
        mma_16816(dpt[2 * np + 1], va, gf[2], gf[3]);
      }
    }
#pragma unroll
    for (int n = 0; n < kRows / 8; ++n)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int col = n * 8 + 2 * lt + (c & 1), i = q0 + col;
        const int j = j0 + r + lg + (c >> 1) * 8;
        const float pij = j < p.T && allowed(i, j, p.T, p.window)
                              ? exp2f(st[n][c] * p.scale2 - slope2 * float(i - j) - lse2[col])
                              : 0.f;
        st[n][c] = pij;                                     // P^T
        dpt[n][c] = pij * (dpt[n][c] - Di[col]) * p.scale;  // dS^T
      }
#pragma unroll
    for (int kk = 0; kk < kRows / 16; ++kk) {
      const std::uint32_t pa[4] = {pack_bf16(st[2 * kk][0], st[2 * kk][1]),
                                   pack_bf16(st[2 * kk][2], st[2 * kk][3]),
                                   pack_bf16(st[2 * kk + 1][0], st[2 * kk + 1][1]),
                                   pack_bf16(st[2 * kk + 1][2], st[2 * kk + 1][3])};
      const std::uint32_t da[4] = {pack_bf16(dpt[2 * kk][0], dpt[2 * kk][1]),
                                   pack_bf16(dpt[2 * kk][2], dpt[2 * kk][3]),
                                   pack_bf16(dpt[2 * kk + 1][0], dpt[2 * kk + 1][1]),
                                   pack_bf16(dpt[2 * kk + 1][2], dpt[2 * kk + 1][3])};
#pragma unroll
      for (int dpi = 0; dpi < D / 16; ++dpi) {
        std::uint32_t gf[4], qf[4];
        load_b(gf, Gs, L::ld, kk * 16, dpi * 16, lane);
        load_b(qf, Qs, L::ld, kk * 16, dpi * 16, lane);
        mma_16816(dV[2 * dpi], pa, gf[0], gf[1]);
        mma_16816(dV[2 * dpi + 1], pa, gf[2], gf[3]);
        mma_16816(dK[2 * dpi], da, qf[0], qf[1]);
        mma_16816(dK[2 * dpi + 1], da, qf[2], qf[3]);
      }
    }
  }
  const std::int64_t ooff = (std::int64_t(b) * p.T * oheads + (oheads == p.nh ? h : g)) * D;
  store_fragment_rows<O, D>(dk + ooff, ostride, j0 + r + lg, p.T, lt, dK);
  store_fragment_rows<O, D>(dv + ooff, ostride, j0 + r + lg, p.T, lt, dV);
}

// x [B, T, ng, d] = sum over the group's heads of part [B, T, nh, d], heads in order.
template <class T>
__global__ void sum_heads_kernel(std::int64_t rows, int per_group, int d, const float* part, T* x) {
  const std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (e >= rows * d) return;
  const std::int64_t r = e / d, c = e % d;  // r = (b, t, g)
  const float* src = part + r * per_group * d + c;
  float s = 0.f;
  for (int i = 0; i < per_group; ++i) s += src[i * d];
  x[e] = from_f<T>(s);
}

template <class Kernel>
void allow_smem(Kernel kernel, int bytes) {
  VPMOE_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
}

}  // namespace
}  // namespace attn

void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, const AttentionArgs& a, Tensor& dq,
                        Tensor& dk, Tensor& dv, Tensor& dsink) {
  const attn::Params p = attn::make_params(q, k, v, a, "attention_backward");
  for (const Tensor* t : {&dout, &out, static_cast<const Tensor*>(&dq)}) {
    check_same_shape(*t, q, "attention_backward: dout, out, dq");
    VPMOE_CHECK(t->dtype() == q.dtype(), "attention_backward: dout, out, dq need q's dtype");
  }
  for (const Tensor* t : {static_cast<const Tensor*>(&dk), static_cast<const Tensor*>(&dv)}) {
    check_same_shape(*t, k, "attention_backward: dk, dv");
    VPMOE_CHECK(t->dtype() == q.dtype(), "attention_backward: dk, dv need q's dtype");
  }
  check_dtype(lse, DType::f32, "attention_backward: lse");
  check_shape(lse, {p.B, p.nh, p.T}, "attention_backward: lse");
  if (dsink.defined()) {
    VPMOE_CHECK(p.sink && dsink.numel() == p.nh && dsink.dtype() == DType::f32,
                "attention_backward: dsink needs a sink and must be [nh] f32, got " + dsink.str());
  }
  if (q.numel() == 0) return;
  Launch L(q);
  const int d = int(q.size(3));
  Tensor Dsum = Tensor::empty({p.B, p.nh, p.T}, DType::f32, q.device());
  dispatch_float(q.dtype(), "attention_backward", [&](auto tx) {
    using T = decltype(tx);
    const std::int64_t rows = std::int64_t(p.B) * p.T * p.nh;
    attn::row_dot_kernel<T><<<unsigned((rows * 32 + 255) / 256), 256, 0, L.stream>>>(
        p, d, dout.data_as<const T>(), out.data_as<const T>(), Dsum.data_as<float>());
    VPMOE_CUDA_LAUNCH_CHECK();
    attn::dispatch_head_dim(d, "attention_backward", [&](auto dc) {
      constexpr int D = decltype(dc)::value;
      const unsigned tiles = unsigned((p.T + attn::kRows - 1) / attn::kRows);
      auto kdq = attn::dq_kernel<T, D>;
      attn::allow_smem(kdq, attn::dq_smem<D>());
      kdq<<<dim3(tiles, unsigned(p.B * p.nh)), attn::kThreads, attn::dq_smem<D>(), L.stream>>>(
          p, q.data_as<const T>(), k.data_as<const T>(), v.data_as<const T>(),
          dout.data_as<const T>(), lse.data_as<const float>(), Dsum.data_as<const float>(),
          dq.data_as<T>());
      VPMOE_CUDA_LAUNCH_CHECK();
      const dim3 grid(tiles, unsigned(p.B * p.nh));
      if (p.per_group == 1) {
        auto kdkv = attn::dkv_kernel<T, T, D>;
        attn::allow_smem(kdkv, attn::dkv_smem<D>());
        kdkv<<<grid, attn::kThreads, attn::dkv_smem<D>(), L.stream>>>(
            p, q.data_as<const T>(), k.data_as<const T>(), v.data_as<const T>(),
            dout.data_as<const T>(), lse.data_as<const float>(), Dsum.data_as<const float>(),
            dk.data_as<T>(), dv.data_as<T>(), std::int64_t(p.ng) * D, p.ng);
      } else {
        Tensor pk = Tensor::empty(q.shape(), DType::f32, q.device());
        Tensor pv = Tensor::empty(q.shape(), DType::f32, q.device());
        auto kdkv = attn::dkv_kernel<T, float, D>;
        attn::allow_smem(kdkv, attn::dkv_smem<D>());
        kdkv<<<grid, attn::kThreads, attn::dkv_smem<D>(), L.stream>>>(
            p, q.data_as<const T>(), k.data_as<const T>(), v.data_as<const T>(),
            dout.data_as<const T>(), lse.data_as<const float>(), Dsum.data_as<const float>(),
            pk.data_as<float>(), pv.data_as<float>(), std::int64_t(p.nh) * D, p.nh);
        VPMOE_CUDA_LAUNCH_CHECK();
        const std::int64_t rows = std::int64_t(p.B) * p.T * p.ng;
        const unsigned blocks = unsigned((rows * D + 255) / 256);
        attn::sum_heads_kernel<T><<<blocks, 256, 0, L.stream>>>(
            rows, p.per_group, D, pk.data_as<const float>(), dk.data_as<T>());
        VPMOE_CUDA_LAUNCH_CHECK();
        attn::sum_heads_kernel<T><<<blocks, 256, 0, L.stream>>>(
            rows, p.per_group, D, pv.data_as<const float>(), dv.data_as<T>());
      }
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  });
  if (dsink.defined())
    colsum::column_sum(L, q.device(), std::int64_t(p.B) * p.T, p.nh,
                       attn::SinkTerm{p, lse.data_as<const float>(), Dsum.data_as<const float>()},
                       dsink.data_as<float>(), /*accumulate=*/true, "attention_backward: dsink");
}

}  // namespace vpmoe::ops::cuda
