// The AdamW element update on CUDA: one grid-stride pass, the same float arithmetic as the
// CPU loop (contraction off for this file, so the results are bit-identical).
#include <cuda_runtime.h>

#include "adamw_update.h"
#include "vpmoe/cuda_launch.h"

namespace vpmoe::adamw {
namespace {

__global__ void adamw_kernel(long long n, float* w, const float* g, float* m, float* v,
                             UpdateArgs a) {
  const float decay = 1.f - a.lr * a.wd;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    m[i] = a.beta1 * m[i] + (1.f - a.beta1) * g[i];
    v[i] = a.beta2 * v[i] + (1.f - a.beta2) * g[i] * g[i];
    const float u = (m[i] / a.bc1) / (sqrtf(v[i] / a.bc2) + a.eps);
    w[i] = w[i] * decay - a.lr * u;
  }
}

}  // namespace

void update_cuda(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const UpdateArgs& a) {
  const long long n = w.numel();
  if (n == 0) return;
  CudaLaunch L(w.device(), "optimizer.adamw");
  const unsigned blocks = unsigned(std::min<long long>((n + 255) / 256, 132LL * 16));
  adamw_kernel<<<blocks, 256, 0, L.stream()>>>(n, w.data_as<float>(), g.data_as<const float>(),
                                               m.data_as<float>(), v.data_as<float>(), a);
  L.check("update");
}

}  // namespace vpmoe::adamw
