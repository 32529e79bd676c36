// One MoE layer of the locked config (E 256, k 4, groups 8/4, width 128, shared 512, H 1024) on
// CUDA in bf16: forward+backward on 8,192 tokens (4 x 2048), the median over repetitions, then
// each part alone (router, dispatch, experts, combine, shared expert; forward and backward),
// timed with device synchronisation around it. Achieved TFLOP/s counts the layer's
// flops_per_token x 3 (forward + backward) per token.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include "../cuda_timing.h"
#include "deepseek_router.h"
#include "dense_ffn.h"
#include "grouped_mlp.h"
#include "moe/local_dispatcher.h"
#include "moe/moe_layer.h"
#include "vpmoe/config.h"
#include "vpmoe/ops.h"

using namespace vpmoe;

namespace {

double wall_ms(const std::function<void()>& fn, int reps) {
  std::vector<double> ms;
  for (int i = 0; i < reps + 2; ++i) {
    cudaDeviceSynchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    cudaDeviceSynchronize();
    const auto t1 = std::chrono::steady_clock::now();
    if (i >= 2) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Reps reps = bench::parse_reps(argc, argv, {2, 10});
  if (!cuda_available()) {
    std::printf("bench_moe_layer: no CUDA device\n");
    return 0;
  }
  const Config c = parse_config(
      "[model]\nnum_layers = 80\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\nffn_hidden_size = 128\n",
      "locked.toml");
  BuildArgs a;
  a.config = &c;
  a.layer = LayerInfo{2, 80, false, 0};
  a.device = Device::cuda(0);
  a.bf16_compute = true;
  moe::MoeLayer layer(router::build(a), experts::build(a), ffn::build(a),
                      std::make_unique<moe::LocalDispatcher>(256, a.device), 4);
  const std::int64_t B = 4, T = 2048, N = B * T, H = 1024;
  Tensor x = Tensor::empty({N, H}, DType::bf16, a.device), dy = x.clone();
  ops::init_normal(x, 0.f, 1.f, 1);
  ops::init_normal(dy, 0.f, 1e-3f, 2);
  Context ctx{a.device, B, T, true};

  const double total = wall_ms(
      [&] {
        layer.forward(ctx, x);
        layer.backward(ctx, dy);
      },
      reps.reps);
  const double flops = 3.0 * layer.flops_per_token(T) * double(N);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("bench_moe_layer on %s: locked MoE layer, bf16, %lld tokens, median of %d\n",
              prop.name, (long long)N, reps.reps);
  std::printf("forward+backward %.3f ms, %.1f TFLOP/s (%.2f GFLOP)\n", total, flops / total / 1e9,
              flops / 1e9);

  // The parts, one at a time, through the same interfaces the layer uses.
  Router& router = layer.router();
  Experts& experts = layer.experts();
  moe::LocalDispatcher disp(256, a.device);
  auto shared = ffn::build(a);
  Routing r;
  moe::Dispatched d;
  Tensor y, dyp, dweights;
  Context ectx = ctx;
  const double t_router = wall_ms([&] { r = router.forward(ctx, x); }, reps.reps);
  const double t_dispatch = wall_ms([&] { d = disp.dispatch(x, r); }, reps.reps);
  ectx.batch = 1, ectx.seq_len = d.x.size(0);
  const double t_experts = wall_ms([&] { y = experts.forward(ectx, d.x, d.rows); }, reps.reps);
  const double t_combine = wall_ms([&] { disp.combine(y); }, reps.reps);
  const double t_shared = wall_ms([&] { shared->forward(ctx, x); }, reps.reps);
  const double t_combine_b = wall_ms(
                                 [&] {
                                   disp.combine(y);
                                   dyp = disp.combine_backward(dy, dweights);
                                 },
                                 reps.reps) -
                             t_combine;
  const double t_experts_b = wall_ms(
                                 [&] {
                                   experts.forward(ectx, d.x, d.rows);
                                   experts.backward(ectx, dyp);
                                 },
                                 reps.reps) -
                             t_experts;
  const double t_dispatch_b = wall_ms([&] { disp.dispatch_backward(dyp); }, reps.reps);
  const double t_router_b = wall_ms(
                                [&] {
                                  router.forward(ctx, x);
                                  router.backward(ctx, dweights);
                                },
                                reps.reps) -
                            t_router;
  const double t_shared_b = wall_ms(
                                [&] {
                                  shared->forward(ctx, x);
                                  shared->backward(ctx, dy);
                                },
                                reps.reps) -
                            t_shared;
  const double ef = 3.0 * 4 * experts.flops_per_token(T) * double(N);
  std::printf("%-22s %8s %8s\n", "part", "fwd ms", "bwd ms");
  std::printf("%-22s %8.3f %8.3f\n", "router (fp32, host top-k)", t_router, t_router_b);
  std::printf("%-22s %8.3f %8.3f\n", "dispatch (permute)", t_dispatch, t_dispatch_b);
  std::printf("%-22s %8.3f %8.3f   (%.1f TFLOP/s fwd+bwd)\n", "experts (grouped GEMM)", t_experts,
              t_experts_b, ef / (t_experts + t_experts_b) / 1e9);
  std::printf("%-22s %8.3f %8.3f\n", "combine", t_combine, t_combine_b);
  std::printf("%-22s %8.3f %8.3f\n", "shared expert", t_shared, t_shared_b);
  return 0;
}
