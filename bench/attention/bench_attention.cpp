// Attention kernel throughput through vpmoe::ops on one GPU: the locked model's shapes
// (8 query heads, 2 KV groups, head_dim 128), local layers (window 128) and global layers
// (causal + ALiBi), both with softmax offsets, at batch x seq = 4 x 2048 and 2 x 4096.
// FLOPs count only the allowed (query, key) pairs: 4 * d per pair and head forward, 2.5x that
// backward (the flash-attention convention, so the numbers compare with sdpa_baseline.py).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "../cuda_timing.h"
#include "device/cuda/cuda_util.h"
#include "vpmoe/device.h"
#include "vpmoe/ops.h"

using namespace vpmoe;

namespace {

bench::Reps g_reps = {5, 30};

Tensor randn(Shape s, DType dt, std::uint64_t seed, float std = 1.f) {
  Tensor t = Tensor::empty(std::move(s), dt, Device::cuda(0));
  ops::init_normal(t, 0.f, std, seed);
  return t;
}

// Allowed (query, key) pairs of one sequence.
double pairs(std::int64_t T, std::int64_t W) {
  double n = 0;
  for (std::int64_t i = 0; i < T; ++i) n += double(W > 0 ? std::min(i + 1, W) : i + 1);
  return n;
}

void run_case(const char* name, std::int64_t B, std::int64_t T, std::int64_t W, bool alibi) {
  const std::int64_t nh = 8, ng = 2, d = 128;
  const DType dt = DType::bf16;
  Tensor q = randn({B, T, nh, d}, dt, 1), k = randn({B, T, ng, d}, dt, 2),
         v = randn({B, T, ng, d}, dt, 3), dout = randn({B, T, nh, d}, dt, 4);
  Tensor out = Tensor::empty(q.shape(), dt, q.device()),
         lse = Tensor::empty({B, nh, T}, DType::f32, q.device());
  Tensor dq = Tensor::empty(q.shape(), dt, q.device()),
         dk = Tensor::empty(k.shape(), dt, q.device()),
         dv = Tensor::empty(k.shape(), dt, q.device());
  ops::AttentionArgs a;
  a.window = W;
  a.scale = float(1.0 / std::sqrt(double(d)));
  a.sink = randn({nh}, DType::f32, 5, 0.02f);
  Tensor dsink = Tensor::zeros({nh}, DType::f32, q.device());
  if (alibi) {
    std::vector<float> s(nh);
    for (std::int64_t h = 0; h < nh; ++h) s[h] = std::pow(2.f, -8.f * float(h + 1) / float(nh));
    a.slopes = Tensor::from_floats(s, {nh}, DType::f32, q.device());
  }
  const double fwd =
      bench::median_ms([&](int) { ops::attention_forward(q, k, v, a, out, lse); }, g_reps);
  const double bwd = bench::median_ms(
      [&](int) { ops::attention_backward(dout, q, k, v, out, lse, a, dq, dk, dv, dsink); }, g_reps);
  const double flop = 4.0 * double(B) * nh * d * pairs(T, W);
  std::printf(
      "%-28s B=%lld T=%lld  fwd %7.3f ms %6.1f TFLOP/s  bwd %7.3f ms %6.1f TFLOP/s  "
      "fwd+bwd %6.1f TFLOP/s\n",
      name, (long long)B, (long long)T, fwd, flop / fwd / 1e9, bwd, 2.5 * flop / bwd / 1e9,
      3.5 * flop / (fwd + bwd) / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  g_reps = bench::parse_reps(argc, argv, g_reps);
  if (!cuda_available()) {
    std::printf("bench_attention: no CUDA device\n");
    return 0;
  }
  cudaDeviceProp prop{};
  VPMOE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("bench_attention on %s, bf16, nh=8 ng=2 d=128, median of %d after %d warm-up\n",
              prop.name, g_reps.reps, g_reps.warmup);
  for (auto [B, T] : {std::pair{4, 2048}, std::pair{2, 4096}}) {
    run_case("local (W=128, offsets)", B, T, 128, false);
    run_case("global (causal, ALiBi, offs.)", B, T, 0, true);
  }
  return 0;
}
