// Fused attention backward, deterministic (no atomics): a row-term kernel (D_i = dO_i . o_i and
// the softmax-offset terms), one kernel for dk/dv per (64 keys, query head) that loops over the
// queries that see those keys (the group's heads summed afterwards in a fixed order), and one
// for dq per (64 queries, head) that loops over the keys they see. Both recompute p from q, k
// and the saved lse.
#include "ops/cuda/attention_args.h"
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

// The saved log-sum-exp (base 2) and D_i of queries [q0, q0 + 64) of head h.
__device__ void load_row_terms(const Params& p, int b, int h, int q0, const float* lse,
                               const float* Dsum, float* lse2, float* Di) {
  for (int e = threadIdx.x; e < kRows; e += kThreads) {
    const bool in = q0 + e < p.T;
    const std::int64_t at = (std::int64_t(b) * p.nh + h) * p.T + q0 + e;
    lse2[e] = in ? lse[at] * kLog2e : 0.f;
    Di[e] = in ? Dsum[at] : 0.f;
  }
}

template <int D>
constexpr int dq_smem() {
  using L = Layout<D>;
  return 4 * L::tile * 2 + 2 * L::scores * 4 + L::probs * 2 + 2 * kRows * 4;
}

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
  float* S = reinterpret_cast<float*>(Vs + L::tile);
  float* dP = S + L::scores;
  bf16_t* dS = reinterpret_cast<bf16_t*>(dP + L::scores);
  float* lse2 = reinterpret_cast<float*>(dS + L::probs);
  float* Di = lse2 + kRows;

  const int h = blockIdx.y % p.nh, b = blockIdx.y / p.nh, g = h / p.per_group;
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kRows;  // longest rows first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = warp * 16;
  const std::int64_t qstride = std::int64_t(p.nh) * D, kstride = std::int64_t(p.ng) * D;
  const std::int64_t qoff = (std::int64_t(b) * p.T * p.nh + h) * D;
  const std::int64_t koff = (std::int64_t(b) * p.T * p.ng + g) * D;
  const float slope2 = p.slopes ? p.slopes[h] * kLog2e : 0.f;

  load_tile<T, D>(Qs, q + qoff, qstride, q0, p.T);
  load_tile<T, D>(Gs, dout + qoff, qstride, q0, p.T);
  load_row_terms(p, b, h, q0, lse, Dsum, lse2, Di);
  FragC acc[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(acc[n], 0.f);

  const int q_end = min(p.T, q0 + kRows);
  for (int k0 = first_key_tile(q0, p.window); k0 < q_end; k0 += kRows) {
    __syncthreads();
    load_tile<T, D>(Ks, k + koff, kstride, k0, p.T);
    load_tile<T, D>(Vs, v + koff, kstride, k0, p.T);
    __syncthreads();
    rows_times_tile_t<D>(Qs + r * L::ld, Ks, S + r * L::lds);
    rows_times_tile_t<D>(Gs + r * L::ld, Vs, dP + r * L::lds);
    __syncwarp();
    {
      const int row = r + (lane >> 1), half = lane & 1, i = q0 + row;
      const float* srow = S + row * L::lds + half * 32;
      const float* prow = dP + row * L::lds + half * 32;
      bf16_t* drow = dS + row * L::ldp + half * 32;
#pragma unroll 8
      for (int c = 0; c < 32; ++c) {
        const int j = k0 + half * 32 + c;
        const float pij = allowed(i, j, p.T, p.window)
                              ? exp2f(srow[c] * p.scale2 - slope2 * float(i - j) - lse2[row])
                              : 0.f;
        drow[c] = f2bf(pij * (prow[c] - Di[row]) * p.scale);
      }
    }
    __syncwarp();
    probs_times_tile<D>(dS + r * L::ldp, Ks, acc);
  }
  __syncthreads();
  float* out = reinterpret_cast<float*>(Ks);  // [64, ldo] f32 fits in Ks and Vs
#pragma unroll
  for (int n = 0; n < D / 16; ++n)
    wmma::store_matrix_sync(out + r * L::ldo + n * 16, acc[n], L::ldo, wmma::mem_row_major);
  __syncthreads();
  store_rows<T, D>(dq + qoff, qstride, q0, p.T, out, nullptr);
}

template <int D>
constexpr int dkv_smem() {
  using L = Layout<D>;
  return 4 * L::tile * 2 + 2 * L::scores * 4 + 2 * L::probs * 2 + 2 * kRows * 4;
}

// One block per (64 keys, batch, query head): that head's share of dk and dv, written to
// O rows of `ostride` (the final dk/dv when a group has one head, else per-head f32 partials
// that sum_heads_kernel adds in a fixed order). Per-head blocks keep the grid wide.
template <class T, class O, int D>
__global__ void __launch_bounds__(kThreads)
    dkv_kernel(Params p, const T* q, const T* k, const T* v, const T* dout, const float* lse,
               const float* Dsum, O* dk, O* dv, std::int64_t ostride, int oheads) {
  using L = Layout<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16_t* Ks = reinterpret_cast<bf16_t*>(smem);
  bf16_t* Vs = Ks + L::tile;
  bf16_t* Qs = Vs + L::tile;
  bf16_t* Gs = Qs + L::tile;                           // dO
  float* St = reinterpret_cast<float*>(Gs + L::tile);  // [key, query]
  float* dPt = St + L::scores;
  bf16_t* Pt = reinterpret_cast<bf16_t*>(dPt + L::scores);
  bf16_t* dSt = Pt + L::probs;
  float* lse2 = reinterpret_cast<float*>(dSt + L::probs);
  float* Di = lse2 + kRows;

  const int h = blockIdx.y % p.nh, b = blockIdx.y / p.nh, g = h / p.per_group;
  const int j0 = blockIdx.x * kRows;  // the first key tiles see the most queries: start first
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, r = warp * 16;
  const std::int64_t qstride = std::int64_t(p.nh) * D, kstride = std::int64_t(p.ng) * D;
  const std::int64_t koff = (std::int64_t(b) * p.T * p.ng + g) * D;

  load_tile<T, D>(Ks, k + koff, kstride, j0, p.T);
  load_tile<T, D>(Vs, v + koff, kstride, j0, p.T);
  FragC dK[D / 16], dV[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(dK[n], 0.f), wmma::fill_fragment(dV[n], 0.f);

  // The last query that sees key j0 + 63 (window) or the sequence end (causal).
  const int q_end = p.window > 0 ? min(p.T, j0 + kRows + p.window - 1) : p.T;
  {
    const std::int64_t qoff = (std::int64_t(b) * p.T * p.nh + h) * D;
    const float slope2 = p.slopes ? p.slopes[h] * kLog2e : 0.f;
    for (int q0 = j0; q0 < q_end; q0 += kRows) {
      __syncthreads();
      load_tile<T, D>(Qs, q + qoff, qstride, q0, p.T);
      load_tile<T, D>(Gs, dout + qoff, qstride, q0, p.T);
      load_row_terms(p, b, h, q0, lse, Dsum, lse2, Di);
      __syncthreads();
      rows_times_tile_t<D>(Ks + r * L::ld, Qs, St + r * L::lds);
      rows_times_tile_t<D>(Vs + r * L::ld, Gs, dPt + r * L::lds);
      __syncwarp();
      {
        const int row = r + (lane >> 1), half = lane & 1, j = j0 + row;
        const float* srow = St + row * L::lds + half * 32;
        const float* prow = dPt + row * L::lds + half * 32;
        bf16_t* pt = Pt + row * L::ldp + half * 32;
        bf16_t* dst = dSt + row * L::ldp + half * 32;
#pragma unroll 8
        for (int c = 0; c < 32; ++c) {
          const int col = half * 32 + c, i = q0 + col;
          const float pij = j < p.T && allowed(i, j, p.T, p.window)
                                ? exp2f(srow[c] * p.scale2 - slope2 * float(i - j) - lse2[col])
                                : 0.f;
          pt[c] = f2bf(pij);
          dst[c] = f2bf(pij * (prow[c] - Di[col]) * p.scale);
        }
      }
      __syncwarp();
      probs_times_tile<D>(Pt + r * L::ldp, Gs, dV);
      probs_times_tile<D>(dSt + r * L::ldp, Qs, dK);
    }
  }
  __syncthreads();
  float* outk = reinterpret_cast<float*>(Ks);  // two [64, ldo] f32 fit in Ks..Gs
  float* outv = outk + kRows * L::ldo;
#pragma unroll
  for (int n = 0; n < D / 16; ++n) {
    wmma::store_matrix_sync(outk + r * L::ldo + n * 16, dK[n], L::ldo, wmma::mem_row_major);
    wmma::store_matrix_sync(outv + r * L::ldo + n * 16, dV[n], L::ldo, wmma::mem_row_major);
  }
  __syncthreads();
  const std::int64_t ooff = (std::int64_t(b) * p.T * oheads + (oheads == p.nh ? h : g)) * D;
  store_rows<O, D>(dk + ooff, ostride, j0, p.T, outk, nullptr);
  store_rows<O, D>(dv + ooff, ostride, j0, p.T, outv, nullptr);
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
