// The AdamW element update on CUDA: one grid-stride pass (4 elements a load), the same float
// arithmetic as the CPU loop (contraction off for this file, so the results are
// bit-identical), refreshing the bf16 compute weights in the same pass.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "adamw_update.h"
#include "vpmoe/cuda_launch.h"
#include "vpmoe/error.h"

namespace vpmoe::adamw {
namespace {

struct Elem {
  float w, m, v;
};

// One element, the same float operations as update_cpu.
__device__ __forceinline__ Elem adam(float w, float g, float m, float v, float decay,
                                     const UpdateArgs& a) {
  g *= a.grad_scale;
  m = a.beta1 * m + (1.f - a.beta1) * g;
  v = a.beta2 * v + (1.f - a.beta2) * g * g;
  const float u = (m / a.bc1) / (sqrtf(v / a.bc2) + a.eps);
  return Elem{w * decay - a.lr * u, m, v};
}

struct alignas(8) Bf16x4 {
  __nv_bfloat16 v[4];
};

// Grid-stride over float4s (every pointer 16-byte aligned, compute 8), then the < 4 tail
// elements; compute (the bf16 weights, or null) is refreshed from the new w in the pass.
__global__ void adamw_kernel(long long n, float* w, const float* g, float* m, float* v,
                             UpdateArgs a, __nv_bfloat16* compute, bool vec) {
  const float decay = 1.f - a.lr * a.wd;
  const long long tid = blockIdx.x * (long long)blockDim.x + threadIdx.x,
                  stride = (long long)gridDim.x * blockDim.x, quads = vec ? n / 4 : 0;
  for (long long q = tid; q < quads; q += stride) {
    float4 wq = reinterpret_cast<float4*>(w)[q], mq = reinterpret_cast<float4*>(m)[q],
           vq = reinterpret_cast<float4*>(v)[q];
    const float4 gq = reinterpret_cast<const float4*>(g)[q];
    float *pw = &wq.x, *pm = &mq.x, *pv = &vq.x;
    const float* pg = &gq.x;
    Bf16x4 cq;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const Elem e = adam(pw[j], pg[j], pm[j], pv[j], decay, a);
      pw[j] = e.w, pm[j] = e.m, pv[j] = e.v;
      cq.v[j] = __float2bfloat16_rn(e.w);
    }
    reinterpret_cast<float4*>(w)[q] = wq, reinterpret_cast<float4*>(m)[q] = mq;
    reinterpret_cast<float4*>(v)[q] = vq;
    if (compute) reinterpret_cast<Bf16x4*>(compute)[q] = cq;
  }
  for (long long i = 4 * quads + tid; i < n; i += stride) {
    const Elem e = adam(w[i], g[i], m[i], v[i], decay, a);
    w[i] = e.w, m[i] = e.m, v[i] = e.v;
    if (compute) compute[i] = __float2bfloat16_rn(e.w);
  }
}

bool aligned(const void* p, std::size_t a) {
  return reinterpret_cast<std::uintptr_t>(p) % a == 0;
}

}  // namespace

void update_cuda(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const UpdateArgs& a,
                 Tensor* compute) {
  const long long n = w.numel();
  if (n == 0) return;
  if (compute && (compute->dtype() != DType::bf16 || compute->numel() != n))
    throw Error("optimizer.adamw (CUDA): compute weights must be bf16 of the parameter's shape");
  CudaLaunch L(w.device(), "optimizer.adamw");
  __nv_bfloat16* pc = compute ? compute->data_as<__nv_bfloat16>() : nullptr;
  const bool vec = aligned(w.data(), 16) && aligned(g.data(), 16) && aligned(m.data(), 16) &&
                   aligned(v.data(), 16) && (!pc || aligned(pc, 8));
  const long long work = vec ? (n + 3) / 4 : n;
  const unsigned blocks = unsigned(std::min<long long>((work + 255) / 256, 132LL * 16));
  adamw_kernel<<<blocks, 256, 0, L.stream()>>>(n, w.data_as<float>(), g.data_as<const float>(),
                                               m.data_as<float>(), v.data_as<float>(), a, pc, vec);
  L.check("update");
}

}  // namespace vpmoe::adamw
