// CUDA passes of the NorMuon step: one grid-stride pass for the momentum, one block per matrix
// for the norms (double partial sums, fixed-order block reductions: deterministic).
#include <cuda_runtime.h>

#include <string>

#include "normuon_kernels.h"
#include "vpmoe/device.h"
#include "vpmoe/error.h"

namespace vpmoe::normuon::cuda {
namespace {

constexpr int kThreads = 256;

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

// Sum over the block in a fixed order; every thread gets the result.
__device__ double block_sum(double v, double* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(~0u, v, o);
  const int lane = int(threadIdx.x) % 32, w = int(threadIdx.x) / 32;
  __syncthreads();
  if (lane == 0) scratch[w] = v;
  __syncthreads();
  double total = 0;
  for (int i = 0; i < int(blockDim.x) / 32; ++i) total += scratch[i];
  return total;
}

__global__ void nesterov_kernel(long long n, float* g, float* m, float mu) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const float mi = mu * m[i] + (1.f - mu) * g[i];
    m[i] = mi;
    g[i] = (1.f - mu) * g[i] + mu * mi;
  }
}

__global__ void frobenius_kernel(long long per, float* x, float factor, float eps) {
  __shared__ double scratch[32];
  float* p = x + blockIdx.x * per;
  double ss = 0;
  for (long long i = threadIdx.x; i < per; i += blockDim.x) ss += double(p[i]) * p[i];
  const float inv = float(1.0 / (sqrt(block_sum(ss, scratch)) * factor + eps));
  for (long long i = threadIdx.x; i < per; i += blockDim.x) p[i] *= inv;
}

__global__ void neuron_kernel(long long m, long long n, float* o, float* v, float* scale,
                              float beta2, float eps) {
  __shared__ double scratch[32];
  const long long b = blockIdx.x;
  float* p = o + b * m * n;
  float* vb = v + b * m;
  float* sb = scale + b * m;
  const int lane = int(threadIdx.x) % 32, w = int(threadIdx.x) / 32, warps = int(blockDim.x) / 32;
  double norm_o = 0, norm_s = 0;  // lane 0 of each warp
  for (long long i = w; i < m; i += warps) {
    double ss = 0;
    for (long long j = lane; j < n; j += 32) ss += double(p[i * n + j]) * p[i * n + j];
    for (int off = 16; off > 0; off >>= 1) ss += __shfl_xor_sync(~0u, ss, off);
    if (lane == 0) {
      const float r = float(ss / double(n));
      const float vi = beta2 * vb[i] + (1.f - beta2) * r;
      vb[i] = vi;
      const float s = 1.f / sqrtf(vi + eps);
      sb[i] = s;
      norm_o += ss;
      norm_s += ss * double(s) * s;
    }
  }
  const double to = block_sum(lane == 0 ? norm_o : 0.0, scratch);
  const double ts = block_sum(lane == 0 ? norm_s : 0.0, scratch);
  const double ratio = sqrt(to) / fmax(sqrt(ts), double(eps));
  __syncthreads();  // every row's scale is written
  for (long long idx = threadIdx.x; idx < m * n; idx += blockDim.x)
    p[idx] *= float(double(sb[idx / n]) * ratio);
}

}  // namespace

void nesterov_momentum(Tensor& g, Tensor& m, float mu) {
  const long long n = g.numel();
  if (n == 0) return;
  Launch L(g);
  const unsigned blocks = unsigned(std::min<long long>((n + kThreads - 1) / kThreads, 132LL * 16));
  nesterov_kernel<<<blocks, kThreads, 0, L.stream>>>(n, g.data_as<float>(), m.data_as<float>(), mu);
  L.check("momentum");
}

void frobenius_normalize(Tensor& x, float factor, float eps) {
  const long long B = x.size(0);
  if (B == 0) return;
  Launch L(x);
  frobenius_kernel<<<unsigned(B), kThreads, 0, L.stream>>>(x.numel() / B, x.data_as<float>(),
                                                           factor, eps);
  L.check("frobenius normalisation");
}

void neuron_normalize(Tensor& o, Tensor& v, float beta2, float eps) {
  const long long B = o.size(0), m = o.size(1), n = o.size(2);
  if (B == 0) return;
  Launch L(o);
  Tensor scale = Tensor::empty({B, m}, DType::f32, o.device());
  neuron_kernel<<<unsigned(B), kThreads, 0, L.stream>>>(
      m, n, o.data_as<float>(), v.data_as<float>(), scale.data_as<float>(), beta2, eps);
  L.check("neuron-wise normalisation");
}

}  // namespace vpmoe::normuon::cuda
