// CUDA passes of the NorMuon step. Per-matrix norms are split over many blocks (partial sums
// in double per chunk of a matrix, then summed in chunk order): a bucket may hold a couple of
// 1536 x 1024 matrices or 1,800 of 128 x 1024, and both must fill the device. Deterministic.
// The passes that touch each parameter (momentum, update) take up to kTable parameters per
// launch from a pointer table passed by value, so a bucket of 19 matrices is one launch.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "normuon_kernels.h"
#include "vpmoe/cuda_launch.h"
#include "vpmoe/error.h"

namespace vpmoe::normuon::cuda {
namespace {

constexpr int kThreads = 256;
constexpr long long kChunk = 4096;  // elements per block of a per-matrix reduction
constexpr int kTable = 32;          // parameters per launch of a table kernel

bool aligned(const void* p, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

unsigned grid_for(long long n) {
  return unsigned(std::min<long long>((n + kThreads - 1) / kThreads, 132LL * 16));
}

__device__ __forceinline__ float load(const float* p) {
  return *p;
}
__device__ __forceinline__ float load(const __nv_bfloat16* p) {
  return __bfloat162float(*p);
}
__device__ __forceinline__ void store(float* p, float v) {
  *p = v;
}
__device__ __forceinline__ void store(__nv_bfloat16* p, float v) {
  *p = __float2bfloat16_rn(v);
}

template <class T>
struct alignas(4 * sizeof(T)) Vec4 {
  T v[4];
};

// Sum over the block in a fixed order; every thread gets the result.
__device__ double block_sum(double v) {
  __shared__ double scratch[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(~0u, v, o);
  const int lane = int(threadIdx.x) % 32, w = int(threadIdx.x) / 32;
  __syncthreads();
  if (lane == 0) scratch[w] = v;
  __syncthreads();
  double total = 0;
  for (int i = 0; i < int(blockDim.x) / 32; ++i) total += scratch[i];
  return total;
}

// The bucket's matrices [first[e], first[e + 1]) lie at g[e] (one parameter's grad).
struct GradTable {
  const float* g[kTable];
  long long first[kTable + 1];
  int entries;
};

// Matrix b's parameter in a table whose first[] is sorted.
template <class T>
__device__ __forceinline__ int entry_of(const T& t, long long b) {
  int e = 0;
  while (e + 1 < t.entries && t.first[e + 1] <= b) ++e;
  return e;
}

// The Nesterov update of the table's matrices (block (c, j): chunk c of matrix first[0] + j,
// grid-stride over j), u in TO; with partial, partial[b, c] = the sum of squares of chunk c of
// matrix b of the f32 u, as sumsq_kernel sums it. In a chunk, thread t takes the quads of
// elements lo + 4 t + 4 blockDim q .. + 3 (whole float4s when kVec: per % 4 == 0, aligned), so
// both kernels add the same squares in the same order whatever their loads.
template <class TO, bool kVec>
__global__ void nesterov_kernel(GradTable t, float* m, TO* u, float mu, float gs, long long per,
                                int chunks, double* partial) {
  const long long c = blockIdx.x, lo = c * kChunk, hi = lo + kChunk < per ? lo + kChunk : per;
  const long long mats = t.first[t.entries] - t.first[0];
  for (long long j = blockIdx.y; j < mats; j += gridDim.y) {
    const long long b = t.first[0] + j;
    const int e = entry_of(t, b);
    const float* g = t.g[e] + (b - t.first[e]) * per;
    float* mb = m + b * per;
    TO* ub = u + b * per;
    double ss = 0;
    for (long long i = lo + 4 * threadIdx.x; i < hi; i += 4 * blockDim.x) {
      float gq[4], mq[4], uq[4];
      const int n = kVec ? 4 : int(hi - i < 4 ? hi - i : 4);
      if constexpr (kVec) {
        *reinterpret_cast<float4*>(gq) = *reinterpret_cast<const float4*>(g + i);
        *reinterpret_cast<float4*>(mq) = *reinterpret_cast<const float4*>(mb + i);
      } else {
        for (int q = 0; q < n; ++q) gq[q] = g[i + q], mq[q] = mb[i + q];
      }
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        if (q >= n) break;
        const float gi = gq[q] * gs;
        mq[q] = mu * mq[q] + (1.f - mu) * gi;
        uq[q] = (1.f - mu) * gi + mu * mq[q];
        ss += double(uq[q]) * uq[q];
      }
      if constexpr (kVec) {
        *reinterpret_cast<float4*>(mb + i) = *reinterpret_cast<const float4*>(mq);
        Vec4<TO> uv;
#pragma unroll
        for (int q = 0; q < 4; ++q) store(&uv.v[q], uq[q]);
        *reinterpret_cast<Vec4<TO>*>(ub + i) = uv;
      } else {
        for (int q = 0; q < n; ++q) mb[i + q] = mq[q], store(ub + i + q, uq[q]);
      }
    }
    if (partial) {
      const double total = block_sum(ss);
      if (threadIdx.x == 0) partial[b * chunks + c] = total;
    }
  }
}

// partial[b, c] = sum of squares of chunk c of matrix b, in nesterov_kernel's order.
__global__ void sumsq_kernel(const float* x, long long per, int chunks, double* partial) {
  const long long b = blockIdx.y, c = blockIdx.x;
  const long long lo = c * kChunk, hi = lo + kChunk < per ? lo + kChunk : per;
  const float* p = x + b * per;
  double ss = 0;
  for (long long i = lo + 4 * threadIdx.x; i < hi; i += 4 * blockDim.x)
    for (long long q = i; q < i + 4 && q < hi; ++q) ss += double(p[q]) * p[q];
  const double total = block_sum(ss);
  if (threadIdx.x == 0) partial[b * chunks + c] = total;
}

// out_b = x_b * scale[b], chunk c of matrix b per block (c, b).
template <class TO>
__global__ void frobenius_scale_kernel(const float* x, TO* out, long long per, const float* scale) {
  const long long b = blockIdx.y, c = blockIdx.x;
  const float inv = scale[b];
  const long long lo = c * kChunk, hi = lo + kChunk < per ? lo + kChunk : per;
  for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x)
    store(out + b * per + i, x[b * per + i] * inv);
}

// The Frobenius factor of each matrix, 1 / (||x_b|| factor + eps), from its chunks' sums.
__global__ void frobenius_scales_kernel(long long B, int chunks, const double* partial,
                                        float factor, float eps, float* out) {
  const long long b = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (b >= B) return;
  double ss = 0;
  for (int i = 0; i < chunks; ++i) ss += partial[b * chunks + i];
  out[b] = float(1.0 / (sqrt(ss) * factor + eps));
}

// Block (x, y): 4 * kThreads elements of matrix y (grid-stride over matrices), 4 consecutive
// ones per thread when kVec (k * k % 4 == 0, aligned); with scale, the coefficients of that
// matrix's scaled step (normuon_kernels.h).
template <class T, bool kVec>
__global__ void polynomial_kernel(long long B, int k, const T* a, const float* a2, T* out, float ca,
                                  float cb, float cc, const float* scale) {
  const int kk = k * k;
  for (long long b = blockIdx.y; b < B; b += gridDim.y) {
    float sa = ca, sb = cb, sc = cc;
    if (scale) {
      const double s = scale[b], s2 = s * s;
      sa = float(ca * s), sb = float(cb * s * s2), sc = float(cc * s * s2 * s2);
    }
    const long long base = b * kk;
    if constexpr (kVec) {
      const int i = (int(blockIdx.x) * kThreads + int(threadIdx.x)) * 4;
      if (i >= kk) continue;
      const Vec4<T> av = *reinterpret_cast<const Vec4<T>*>(a + base + i);
      const float4 a2v = *reinterpret_cast<const float4*>(a2 + base + i);
      const float* a2x = &a2v.x;
      Vec4<T> ov;
#pragma unroll
      for (int q = 0; q < 4; ++q)
        store(&ov.v[q],
              ((i + q) / k == (i + q) % k ? sa : 0.f) + sb * load(&av.v[q]) + sc * a2x[q]);
      *reinterpret_cast<Vec4<T>*>(out + base + i) = ov;
    } else {
      for (int q = 0; q < 4; ++q) {
        const int i = (int(blockIdx.x) * 4 + q) * kThreads + int(threadIdx.x);
        if (i >= kk) break;
        store(out + base + i,
              (i / k == i % k ? sa : 0.f) + sb * load(a + base + i) + sc * a2[base + i]);
      }
    }
  }
}

// `lanes` lanes (a power of 2 up to 32) per row of every matrix, 32 / lanes rows per warp, so a
// short row still gives each lane several loads: the row's mean square, the second moment, its
// scale, and the row's contributions to ||o||^2 and ||s||^2. kVec: 4 elements per load.
template <class TI, bool kVec>
__global__ void neuron_rows_kernel(const TI* o, long long rows, long long n, int lanes, float* v,
                                   float* scale, double* row_o, double* row_s, float beta2,
                                   float eps) {
  const long long warp = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / 32;
  const int lane = int(threadIdx.x) % lanes;
  const long long row = warp * (32 / lanes) + (int(threadIdx.x) % 32) / lanes;
  double ss = 0;
  if (row < rows) {
    const TI* p = o + row * n;
    if constexpr (kVec) {  // n % 4 == 0, o aligned
      for (long long j = 4LL * lane; j < n; j += 4LL * lanes) {
        const Vec4<TI> x4 = *reinterpret_cast<const Vec4<TI>*>(p + j);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const double x = load(&x4.v[q]);
          ss += x * x;
        }
      }
    } else {
      for (long long j = lane; j < n; j += lanes) {
        const double x = load(p + j);
        ss += x * x;
      }
    }
  }
  for (int off = lanes / 2; off > 0; off >>= 1) ss += __shfl_xor_sync(~0u, ss, off, lanes);
  if (lane == 0 && row < rows) {
    const float r = float(ss / double(n));
    const float vi = beta2 * v[row] + (1.f - beta2) * r;
    v[row] = vi;
    const float s = 1.f / sqrtf(vi + eps);
    scale[row] = s;
    row_o[row] = ss;
    row_s[row] = ss * double(s) * s;
  }
}

__global__ void neuron_ratio_kernel(const double* row_o, const double* row_s, long long m,
                                    double* ratio, float eps) {
  const long long b = blockIdx.x;
  double so = 0, ss = 0;
  for (long long i = threadIdx.x; i < m; i += blockDim.x)
    so += row_o[b * m + i], ss += row_s[b * m + i];
  const double to = block_sum(so), ts = block_sum(ss);
  if (threadIdx.x == 0) ratio[b] = sqrt(to) / fmax(sqrt(ts), double(eps));
}

__global__ void neuron_factor_kernel(long long rows, long long m, const float* scale,
                                     const double* ratio, float* f) {
  const long long row = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (row < rows) f[row] = float(double(scale[row]) * ratio[row / m]);
}

// One block per row (grid-stride over rows), its threads over the row's elements.
template <class TI>
__global__ void scale_rows_kernel(const TI* o, float* out, long long rows, long long n,
                                  const float* f) {
  for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
    const float fr = f[row];
    for (long long j = threadIdx.x; j < n; j += blockDim.x)
      out[row * n + j] = load(o + row * n + j) * fr;
  }
}

// The bucket's rows [first[e], first[e + 1]) are parameter e's: weights w[e], their bf16
// copy compute[e] (or null), decay[e].
struct UpdateTable {
  float* w[kTable];
  __nv_bfloat16* compute[kTable];
  float decay[kTable];
  long long first[kTable + 1];
  int entries;
};

// update_kernel with u = o * f formed in registers (the same float operations, so the same
// bits), over the table's rows: tpr threads per row, blockDim / tpr rows per block, grid-stride.
// kVec: 4 columns per thread (n % 4 == 0 and aligned pointers).
template <class TI, bool kVec>
__global__ void scaled_update_kernel(UpdateTable t, const TI* o, long long n, int tpr,
                                     const float* f, float step) {
  const int sub = int(threadIdx.x) / tpr, lane = int(threadIdx.x) % tpr;
  const long long rpb = blockDim.x / tpr, rows = t.first[t.entries] - t.first[0];
  for (long long r = blockIdx.x * rpb + sub; r < rows; r += gridDim.x * rpb) {
    const long long row = t.first[0] + r;
    const int e = entry_of(t, row);
    const float fr = f[row], decay = t.decay[e];
    const TI* po = o + row * n;
    float* pw = t.w[e] + (row - t.first[e]) * n;
    __nv_bfloat16* pc = t.compute[e] ? t.compute[e] + (row - t.first[e]) * n : nullptr;
    if constexpr (kVec) {
      for (long long j = 4LL * lane; j < n; j += 4LL * tpr) {
        const Vec4<TI> ov = *reinterpret_cast<const Vec4<TI>*>(po + j);
        float4 wv = *reinterpret_cast<const float4*>(pw + j);
        float* wx = &wv.x;
        Vec4<__nv_bfloat16> cv;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const float u = load(&ov.v[q]) * fr;
          wx[q] = wx[q] * decay - step * u;
          cv.v[q] = __float2bfloat16_rn(wx[q]);
        }
        *reinterpret_cast<float4*>(pw + j) = wv;
        if (pc) *reinterpret_cast<Vec4<__nv_bfloat16>*>(pc + j) = cv;
      }
    } else {
      for (long long j = lane; j < n; j += tpr) {
        const float u = load(po + j) * fr;
        const float x = pw[j] * decay - step * u;
        pw[j] = x;
        if (pc) pc[j] = __float2bfloat16_rn(x);
      }
    }
  }
}

unsigned row_grid(long long rows) {
  return unsigned(std::min<long long>(rows, 132LL * 64));
}
int row_threads(long long n) {
  return int(std::min<long long>(kThreads, (n + 31) / 32 * 32));
}

__global__ void update_kernel(long long n, float* w, const float* u, float decay, float step,
                              __nv_bfloat16* compute) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const float x = w[i] * decay - step * u[i];
    w[i] = x;
    if (compute) compute[i] = __float2bfloat16_rn(x);
  }
}

template <class F>
void by_dtype(const Tensor& t, const char* what, F&& f) {
  if (t.dtype() == DType::f32)
    f(float{});
  else if (t.dtype() == DType::bf16)
    f(__nv_bfloat16{});
  else
    throw Error(std::string("optimizer.normuon (CUDA): ") + what + " must be f32 or bf16");
}

}  // namespace

std::int64_t sumsq_pieces(std::int64_t per) {
  return (per + kChunk - 1) / kChunk;
}

void nesterov_momentum(const std::vector<Tensor>& grads, Tensor& m, Tensor& u, float mu,
                       Tensor* sumsq, float grad_scale) {
  const long long B = m.size(0), per = B ? m.numel() / B : 0;
  if (m.numel() == 0) return;
  if (m.dtype() != DType::f32 || u.numel() != m.numel())
    throw Error("optimizer.normuon (CUDA): momentum must be f32 and u its shape");
  const int chunks = int(sumsq_pieces(per));
  if (sumsq && (sumsq->size(0) != B || sumsq->size(1) != chunks))
    throw Error("optimizer.normuon (CUDA): the sumsq buffer does not fit the matrices");
  CudaLaunch L(m.device(), "optimizer.normuon");
  double* partial = sumsq ? sumsq->data_as<double>() : nullptr;
  bool vec = per % 4 == 0 && aligned(m.data(), 16) && aligned(u.data(), 4 * dtype_size(u.dtype()));
  long long first = 0;
  for (std::size_t g0 = 0; g0 < grads.size(); g0 += kTable) {
    GradTable t{};
    t.entries = int(std::min<std::size_t>(kTable, grads.size() - g0));
    t.first[0] = first;
    for (int e = 0; e < t.entries; ++e) {
      const Tensor& g = grads[g0 + std::size_t(e)];
      if (g.dtype() != DType::f32 || g.numel() % per != 0)
        throw Error("optimizer.normuon (CUDA): a grad is not f32 matrices of the bucket's shape");
      t.g[e] = g.data_as<const float>();
      vec = vec && aligned(t.g[e], 16);
      first += g.numel() / per;
      t.first[e + 1] = first;
    }
    if (first > B) throw Error("optimizer.normuon (CUDA): grads overrun the bucket");
    const long long mats = first - t.first[0];
    if (mats == 0) continue;
    const dim3 grid{unsigned(chunks), unsigned(std::min<long long>(mats, 65535)), 1u};
    by_dtype(u, "nesterov_momentum output", [&](auto z) {
      using TO = decltype(z);
      auto kernel = vec ? nesterov_kernel<TO, true> : nesterov_kernel<TO, false>;
      kernel<<<grid, kThreads, 0, L.stream()>>>(t, m.data_as<float>(), u.data_as<TO>(), mu,
                                                grad_scale, per, chunks, partial);
    });
  }
  if (first != B) throw Error("optimizer.normuon (CUDA): grads do not fill the bucket");
  L.check("momentum");
}

Tensor sumsq_of(const Tensor& u) {
  const long long B = u.size(0), per = B ? u.numel() / B : 0;
  const int chunks = int(sumsq_pieces(per));
  Tensor out = Tensor::empty({B, chunks}, DType::i64, u.device());  // doubles
  if (u.numel() == 0) return out;
  if (u.dtype() != DType::f32) throw Error("optimizer.normuon (CUDA): sumsq_of needs f32");
  CudaLaunch L(u.device(), "optimizer.normuon");
  sumsq_kernel<<<dim3{unsigned(chunks), unsigned(B), 1u}, kThreads, 0, L.stream()>>>(
      u.data_as<const float>(), per, chunks, out.data_as<double>());
  L.check("sums of squares");
  return out;
}

Tensor frobenius_scales(const Tensor& sumsq, float factor, float eps) {
  const long long B = sumsq.size(0);
  Tensor out = Tensor::empty({B}, DType::f32, sumsq.device());
  if (B == 0) return out;
  CudaLaunch L(sumsq.device(), "optimizer.normuon");
  frobenius_scales_kernel<<<unsigned((B + kThreads - 1) / kThreads), kThreads, 0, L.stream()>>>(
      B, int(sumsq.size(1)), sumsq.data_as<const double>(), factor, eps, out.data_as<float>());
  L.check("frobenius scales");
  return out;
}

void frobenius_normalize(const Tensor& in, Tensor& out, float factor, float eps,
                         const Tensor* sumsq) {
  const long long B = in.size(0);
  if (B == 0 || in.numel() == 0) return;
  const long long per = in.numel() / B;
  const Tensor scale = frobenius_scales(sumsq ? *sumsq : sumsq_of(in), factor, eps);
  CudaLaunch L(in.device(), "optimizer.normuon");
  const dim3 grid{unsigned(sumsq_pieces(per)), unsigned(B), 1u};
  by_dtype(out, "frobenius_normalize output", [&](auto t) {
    using TO = decltype(t);
    frobenius_scale_kernel<TO><<<grid, kThreads, 0, L.stream()>>>(
        in.data_as<const float>(), out.data_as<TO>(), per, scale.data_as<const float>());
  });
  L.check("frobenius normalisation");
}

void polynomial(const Tensor& a, const Tensor& a2, Tensor& out, float ca, float cb, float cc,
                const Tensor* scale) {
  const long long B = a.size(0), k = a.size(1);
  if (a.numel() == 0) return;
  if (k * k > (1LL << 30))
    throw Error("optimizer.normuon (CUDA): polynomial of a too large matrix");
  if (scale && (scale->numel() != B || scale->dtype() != DType::f32))
    throw Error("optimizer.normuon (CUDA): polynomial scale must be [B] f32");
  CudaLaunch L(a.device(), "optimizer.normuon");
  const dim3 grid{unsigned((k * k + 4 * kThreads - 1) / (4 * kThreads)),
                  unsigned(std::min<long long>(B, 65535)), 1u};
  const bool vec = (k * k) % 4 == 0 && aligned(a.data(), 4 * dtype_size(a.dtype())) &&
                   aligned(a2.data(), 16) && aligned(out.data(), 4 * dtype_size(out.dtype()));
  by_dtype(a, "polynomial", [&](auto t) {
    using T = decltype(t);
    auto kernel = vec ? polynomial_kernel<T, true> : polynomial_kernel<T, false>;
    kernel<<<grid, kThreads, 0, L.stream()>>>(B, int(k), a.data_as<const T>(),
                                              a2.data_as<const float>(), out.data_as<T>(), ca, cb,
                                              cc, scale ? scale->data_as<const float>() : nullptr);
  });
  L.check("polynomial");
}

Tensor neuron_factors(const Tensor& o, Tensor& v, float beta2, float eps) {
  const long long B = o.size(0), m = o.size(1), n = o.size(2), rows = B * m;
  Tensor f = Tensor::empty({rows}, DType::f32, o.device());
  if (rows == 0) return f;
  CudaLaunch L(o.device(), "optimizer.normuon");
  Tensor scale = Tensor::empty({rows}, DType::f32, o.device());
  Tensor row_o = Tensor::empty({rows}, DType::i64, o.device());  // doubles
  Tensor row_s = Tensor::empty({rows}, DType::i64, o.device());
  Tensor ratio = Tensor::empty({B}, DType::i64, o.device());
  by_dtype(o, "neuron_normalize input", [&](auto t) {
    using TI = decltype(t);
    // Lanes per row: 16 elements a lane, at most a warp.
    int lanes = 1;
    while (lanes < 32 && 16LL * lanes < n) lanes *= 2;
    const long long warps = (rows + 32 / lanes - 1) / (32 / lanes);
    const unsigned row_blocks = unsigned((warps * 32 + kThreads - 1) / kThreads);
    const bool vec = n % 4 == 0 && aligned(o.data(), 4 * sizeof(TI));
    auto rows_kernel = vec ? neuron_rows_kernel<TI, true> : neuron_rows_kernel<TI, false>;
    rows_kernel<<<row_blocks, kThreads, 0, L.stream()>>>(
        o.data_as<const TI>(), rows, n, lanes, v.data_as<float>(), scale.data_as<float>(),
        row_o.data_as<double>(), row_s.data_as<double>(), beta2, eps);
    neuron_ratio_kernel<<<unsigned(B), kThreads, 0, L.stream()>>>(
        row_o.data_as<double>(), row_s.data_as<double>(), m, ratio.data_as<double>(), eps);
  });
  neuron_factor_kernel<<<unsigned((rows + kThreads - 1) / kThreads), kThreads, 0, L.stream()>>>(
      rows, m, scale.data_as<const float>(), ratio.data_as<const double>(), f.data_as<float>());
  L.check("neuron-wise normalisation");
  return f;
}

void scale_rows(const Tensor& o, const Tensor& f, Tensor& out) {
  const long long rows = f.numel(), n = rows ? o.numel() / rows : 0;
  if (rows == 0) return;
  CudaLaunch L(o.device(), "optimizer.normuon");
  by_dtype(o, "scale_rows input", [&](auto t) {
    using TI = decltype(t);
    scale_rows_kernel<TI><<<row_grid(rows), row_threads(n), 0, L.stream()>>>(
        o.data_as<const TI>(), out.data_as<float>(), rows, n, f.data_as<const float>());
  });
  L.check("scale rows");
}

void apply_update(Tensor& w, const Tensor& u, float decay, float step, Tensor& compute) {
  const long long n = w.numel();
  if (n == 0) return;
  CudaLaunch L(w.device(), "optimizer.normuon");
  const bool separate = compute.defined() && compute.data() != w.data();
  if (separate && compute.dtype() != DType::bf16)
    throw Error("optimizer.normuon (CUDA): compute weights must be bf16");
  update_kernel<<<grid_for(n), kThreads, 0, L.stream()>>>(
      n, w.data_as<float>(), u.data_as<const float>(), decay, step,
      separate ? compute.data_as<__nv_bfloat16>() : nullptr);
  L.check("update");
}

void apply_scaled_update(std::vector<UpdateTarget>& targets, const Tensor& o, const Tensor& f,
                         float step) {
  const long long rows = f.numel(), n = rows ? o.numel() / rows : 0;
  if (rows == 0 || n == 0) return;
  CudaLaunch L(o.device(), "optimizer.normuon");
  bool vec = n % 4 == 0 && aligned(o.data(), 4 * dtype_size(o.dtype()));
  long long row = 0;
  std::vector<UpdateTable> tables;
  for (std::size_t t0 = 0; t0 < targets.size(); t0 += kTable) {
    UpdateTable t{};
    t.entries = int(std::min<std::size_t>(kTable, targets.size() - t0));
    t.first[0] = row;
    for (int e = 0; e < t.entries; ++e) {
      UpdateTarget& u = targets[t0 + std::size_t(e)];
      if (u.w.dtype() != DType::f32 || u.w.numel() % n != 0)
        throw Error("optimizer.normuon (CUDA): update weights must be f32 rows of the bucket");
      const bool separate = u.compute.defined() && u.compute.data() != u.w.data();
      if (separate && (u.compute.dtype() != DType::bf16 || u.compute.numel() != u.w.numel()))
        throw Error("optimizer.normuon (CUDA): compute weights must be bf16 of w's shape");
      t.w[e] = u.w.data_as<float>();
      t.compute[e] = separate ? u.compute.data_as<__nv_bfloat16>() : nullptr;
      t.decay[e] = u.decay;
      vec = vec && aligned(t.w[e], 16) && (!separate || aligned(t.compute[e], 8));
      row += u.w.numel() / n;
      t.first[e + 1] = row;
    }
    tables.push_back(t);
  }
  if (row != rows) throw Error("optimizer.normuon (CUDA): update targets do not fill the bucket");
  // Threads per row: a warp multiple covering the row (4 columns each when vectorised).
  const long long per_thread = vec ? 4 : 1;
  const int tpr =
      int(std::min<long long>(kThreads, ((n + per_thread - 1) / per_thread + 31) / 32 * 32));
  const int rpb = kThreads / tpr;
  for (const UpdateTable& t : tables) {
    const long long trows = t.first[t.entries] - t.first[0];
    if (trows == 0) continue;
    const unsigned grid = unsigned(std::min<long long>((trows + rpb - 1) / rpb, 132LL * 32));
    by_dtype(o, "apply_scaled_update input", [&](auto z) {
      using TI = decltype(z);
      if (vec)
        scaled_update_kernel<TI, true><<<grid, rpb * tpr, 0, L.stream()>>>(
            t, o.data_as<const TI>(), n, tpr, f.data_as<const float>(), step);
      else
        scaled_update_kernel<TI, false><<<grid, rpb * tpr, 0, L.stream()>>>(
            t, o.data_as<const TI>(), n, tpr, f.data_as<const float>(), step);
    });
  }
  L.check("scaled update");
}

}  // namespace vpmoe::normuon::cuda
