// CUDA passes of the NorMuon step. Per-matrix norms are split over many blocks (partial sums
// in double per chunk of a matrix, then summed in chunk order): a bucket may hold a couple of
// 1536 x 1024 matrices or 1,800 of 128 x 1024, and both must fill the device. Deterministic.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <string>

#include "normuon_kernels.h"
#include "vpmoe/device.h"
#include "vpmoe/error.h"

namespace vpmoe::normuon::cuda {
namespace {

constexpr int kThreads = 256;
constexpr long long kChunk = 16384;  // elements per block of a per-matrix reduction

struct Launch {
  int prev = 0, dev;
  cudaStream_t stream;
  explicit Launch(const Tensor& t) : dev(t.device().index) {
    cudaGetDevice(&prev);
    if (prev != dev) cudaSetDevice(dev);
    stream = static_cast<cudaStream_t>(current_stream(t.device()));
  }
  ~Launch() {
    if (prev != dev) cudaSetDevice(prev);
  }
  void check(const char* what) const {
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
      throw Error(std::string("optimizer.normuon (CUDA) ") + what + ": " + cudaGetErrorString(e));
  }
};

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

__global__ void nesterov_kernel(long long n, const float* g, float* m, float* u, float mu) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const float gi = g[i], mi = mu * m[i] + (1.f - mu) * gi;
    m[i] = mi;
    u[i] = (1.f - mu) * gi + mu * mi;
  }
}

// nesterov_kernel over [B, per] with partial[b, c] = the sum of squares of chunk c of matrix b
// of u, as sumsq_kernel sums it (same element-to-thread order, same block_sum).
__global__ void nesterov_sumsq_kernel(const float* g, float* m, float* u, float mu, long long per,
                                      int chunks, double* partial) {
  const long long b = blockIdx.y, c = blockIdx.x;
  const long long lo = c * kChunk, hi = lo + kChunk < per ? lo + kChunk : per;
  double ss = 0;
  for (long long i = b * per + lo + threadIdx.x; i < b * per + hi; i += blockDim.x) {
    const float gi = g[i], mi = mu * m[i] + (1.f - mu) * gi;
    m[i] = mi;
    const float ui = (1.f - mu) * gi + mu * mi;
    u[i] = ui;
    ss += double(ui) * ui;
  }
  const double total = block_sum(ss);
  if (threadIdx.x == 0) partial[b * chunks + c] = total;
}

// partial[b, c] = sum of squares of chunk c of matrix b.
__global__ void sumsq_kernel(const float* x, long long per, int chunks, double* partial) {
  const long long b = blockIdx.y, c = blockIdx.x;
  const long long lo = c * kChunk, hi = lo + kChunk < per ? lo + kChunk : per;
  const float* p = x + b * per;
  double ss = 0;
  for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x) ss += double(p[i]) * p[i];
  const double total = block_sum(ss);
  if (threadIdx.x == 0) partial[b * chunks + c] = total;
}

template <class TO>
__global__ void frobenius_scale_kernel(const float* x, TO* out, long long per, int chunks,
                                       const double* partial, float factor, float eps) {
  const long long b = blockIdx.y, c = blockIdx.x;
  double ss = 0;
  for (int i = 0; i < chunks; ++i) ss += partial[b * chunks + i];
  const float inv = float(1.0 / (sqrt(ss) * factor + eps));
  const long long lo = c * kChunk, hi = lo + kChunk < per ? lo + kChunk : per;
  for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x)
    store(out + b * per + i, x[b * per + i] * inv);
}

template <class T>
__global__ void polynomial_kernel(long long n, long long k, const T* a, const float* a2, T* out,
                                  float ca, float cb, float cc) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const long long r = (i / k) % k, col = i % k;
    store(out + i, (r == col ? ca : 0.f) + cb * load(a + i) + cc * a2[i]);
  }
}

// One warp per row of every matrix: the row's mean square, the second moment, its scale, and
// the row's contributions to ||o||^2 and ||s||^2.
template <class TI>
__global__ void neuron_rows_kernel(const TI* o, long long rows, long long n, float* v, float* scale,
                                   double* row_o, double* row_s, float beta2, float eps) {
  const long long row = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / 32;
  const int lane = int(threadIdx.x) % 32;
  if (row >= rows) return;
  const TI* p = o + row * n;
  double ss = 0;
  for (long long j = lane; j < n; j += 32) {
    const double x = load(p + j);
    ss += x * x;
  }
  for (int off = 16; off > 0; off >>= 1) ss += __shfl_xor_sync(~0u, ss, off);
  if (lane == 0) {
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

// update_kernel with u = o * f formed in registers (the same float operations, so the same bits).
template <class TI>
__global__ void scaled_update_kernel(float* w, const TI* o, long long rows, long long n,
                                     const float* f, float decay, float step,
                                     __nv_bfloat16* compute) {
  for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
    const float fr = f[row];
    for (long long j = threadIdx.x; j < n; j += blockDim.x) {
      const long long i = row * n + j;
      const float u = load(o + i) * fr;
      const float x = w[i] * decay - step * u;
      w[i] = x;
      if (compute) compute[i] = __float2bfloat16_rn(x);
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

void nesterov_momentum(const Tensor& g, Tensor& m, Tensor& u, float mu, Tensor* sumsq) {
  const long long n = g.numel();
  if (n == 0) return;
  Launch L(g);
  if (sumsq) {
    const long long B = sumsq->size(0), per = n / B;
    const int chunks = int(sumsq_pieces(per));
    if (sumsq->size(1) != chunks)
      throw Error("optimizer.normuon (CUDA): the sumsq buffer does not fit the matrices");
    nesterov_sumsq_kernel<<<dim3{unsigned(chunks), unsigned(B), 1u}, kThreads, 0, L.stream>>>(
        g.data_as<const float>(), m.data_as<float>(), u.data_as<float>(), mu, per, chunks,
        sumsq->data_as<double>());
  } else {
    nesterov_kernel<<<grid_for(n), kThreads, 0, L.stream>>>(
        n, g.data_as<const float>(), m.data_as<float>(), u.data_as<float>(), mu);
  }
  L.check("momentum");
}

void frobenius_normalize(const Tensor& in, Tensor& out, float factor, float eps,
                         const Tensor* sumsq) {
  const long long B = in.size(0);
  if (B == 0 || in.numel() == 0) return;
  const long long per = in.numel() / B;
  const int chunks = int(sumsq_pieces(per));
  Launch L(in);
  const dim3 grid{unsigned(chunks), unsigned(B), 1u};
  Tensor partial;
  if (sumsq) {
    partial = *sumsq;
  } else {
    partial = Tensor::empty({B * chunks}, DType::i64, in.device());  // doubles
    sumsq_kernel<<<grid, kThreads, 0, L.stream>>>(in.data_as<const float>(), per, chunks,
                                                  partial.data_as<double>());
  }
  by_dtype(out, "frobenius_normalize output", [&](auto t) {
    using TO = decltype(t);
    frobenius_scale_kernel<TO>
        <<<grid, kThreads, 0, L.stream>>>(in.data_as<const float>(), out.data_as<TO>(), per, chunks,
                                          partial.data_as<double>(), factor, eps);
  });
  L.check("frobenius normalisation");
}

void polynomial(const Tensor& a, const Tensor& a2, Tensor& out, float ca, float cb, float cc) {
  const long long n = a.numel(), k = a.size(1);
  if (n == 0) return;
  Launch L(a);
  by_dtype(a, "polynomial", [&](auto t) {
    using T = decltype(t);
    polynomial_kernel<T><<<grid_for(n), kThreads, 0, L.stream>>>(
        n, k, a.data_as<const T>(), a2.data_as<const float>(), out.data_as<T>(), ca, cb, cc);
  });
  L.check("polynomial");
}

Tensor neuron_factors(const Tensor& o, Tensor& v, float beta2, float eps) {
  const long long B = o.size(0), m = o.size(1), n = o.size(2), rows = B * m;
  Tensor f = Tensor::empty({rows}, DType::f32, o.device());
  if (rows == 0) return f;
  Launch L(o);
  Tensor scale = Tensor::empty({rows}, DType::f32, o.device());
  Tensor row_o = Tensor::empty({rows}, DType::i64, o.device());  // doubles
  Tensor row_s = Tensor::empty({rows}, DType::i64, o.device());
  Tensor ratio = Tensor::empty({B}, DType::i64, o.device());
  by_dtype(o, "neuron_normalize input", [&](auto t) {
    using TI = decltype(t);
    const unsigned row_blocks = unsigned((rows * 32 + kThreads - 1) / kThreads);
    neuron_rows_kernel<TI><<<row_blocks, kThreads, 0, L.stream>>>(
        o.data_as<const TI>(), rows, n, v.data_as<float>(), scale.data_as<float>(),
        row_o.data_as<double>(), row_s.data_as<double>(), beta2, eps);
    neuron_ratio_kernel<<<unsigned(B), kThreads, 0, L.stream>>>(
        row_o.data_as<double>(), row_s.data_as<double>(), m, ratio.data_as<double>(), eps);
  });
  neuron_factor_kernel<<<unsigned((rows + kThreads - 1) / kThreads), kThreads, 0, L.stream>>>(
      rows, m, scale.data_as<const float>(), ratio.data_as<const double>(), f.data_as<float>());
  L.check("neuron-wise normalisation");
  return f;
}

void scale_rows(const Tensor& o, const Tensor& f, Tensor& out) {
  const long long rows = f.numel(), n = rows ? o.numel() / rows : 0;
  if (rows == 0) return;
  Launch L(o);
  by_dtype(o, "scale_rows input", [&](auto t) {
    using TI = decltype(t);
    scale_rows_kernel<TI><<<row_grid(rows), row_threads(n), 0, L.stream>>>(
        o.data_as<const TI>(), out.data_as<float>(), rows, n, f.data_as<const float>());
  });
  L.check("scale rows");
}

void apply_update(Tensor& w, const Tensor& u, float decay, float step, Tensor& compute) {
  const long long n = w.numel();
  if (n == 0) return;
  Launch L(w);
  const bool separate = compute.defined() && compute.data() != w.data();
  if (separate && compute.dtype() != DType::bf16)
    throw Error("optimizer.normuon (CUDA): compute weights must be bf16");
  update_kernel<<<grid_for(n), kThreads, 0, L.stream>>>(
      n, w.data_as<float>(), u.data_as<const float>(), decay, step,
      separate ? compute.data_as<__nv_bfloat16>() : nullptr);
  L.check("update");
}

void apply_scaled_update(Tensor& w, const Tensor& o, const Tensor& f, float decay, float step,
                         Tensor& compute) {
  const long long rows = f.numel(), n = rows ? w.numel() / rows : 0;
  if (rows == 0) return;
  Launch L(w);
  const bool separate = compute.defined() && compute.data() != w.data();
  if (separate && compute.dtype() != DType::bf16)
    throw Error("optimizer.normuon (CUDA): compute weights must be bf16");
  by_dtype(o, "apply_scaled_update input", [&](auto t) {
    using TI = decltype(t);
    scaled_update_kernel<TI><<<row_grid(rows), row_threads(n), 0, L.stream>>>(
        w.data_as<float>(), o.data_as<const TI>(), rows, n, f.data_as<const float>(), decay, step,
        separate ? compute.data_as<__nv_bfloat16>() : nullptr);
  });
  L.check("scaled update");
}

}  // namespace vpmoe::normuon::cuda
