// One MoE layer of the locked config (E 256, k 4, groups 8/4, width 128, shared 512, H 1024) on
// CUDA in bf16: forward+backward on 8,192 tokens (4 x 2048), the median over repetitions, then
// each part alone (router, dispatch, experts, combine, shared expert; forward and backward),
// timed with device synchronisation around it. Achieved TFLOP/s counts the layer's
// flops_per_token x 3 (forward + backward) per token. Last, two replaced paths side by side with
// their replacements on the same inputs: the routing on the host (logits copied down, choices
// copied up) against the routing kernels, and the combine as a per-token [1, k] x [k, H]
// batched GEMM over gathered slots against ops::combine_rows.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <span>
#include <vector>

#include "../cuda_timing.h"
#include "deepseek_router.h"
#include "dense_ffn.h"
#include "grouped_mlp.h"
#include "moe/local_dispatcher.h"
#include "moe/moe_layer.h"
#include "routing_cuda.h"
#include "routing_math.h"
#include "vpmoe/config.h"
#include "vpmoe/ops.h"

using namespace vpmoe;

namespace {

double wall_ms(const std::function<void()>& fn, int reps) {
  return bench::wall_ms(fn, reps, 2);
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
  Tensor x = Tensor::empty({N, H}, DType::bf16, a.device);
  Tensor dy = Tensor::empty({N, H}, DType::bf16, a.device);
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
  std::printf("%-22s %8.3f %8.3f\n", "router (fp32, kernels)", t_router, t_router_b);
  std::printf("%-22s %8.3f %8.3f\n", "dispatch (permute)", t_dispatch, t_dispatch_b);
  std::printf("%-22s %8.3f %8.3f   (%.1f TFLOP/s fwd+bwd)\n", "experts (grouped GEMM)", t_experts,
              t_experts_b, ef / (t_experts + t_experts_b) / 1e9);
  std::printf("%-22s %8.3f %8.3f\n", "combine", t_combine, t_combine_b);
  std::printf("%-22s %8.3f %8.3f\n", "shared expert", t_shared, t_shared_b);

  // Side by side: the replaced paths and their replacements, on the same inputs.
  const router::RoutingShape shape{256, 4, 8, 4, 2.5};
  Tensor logits = Tensor::empty({N, 256}, DType::f32, a.device);
  ops::init_normal(logits, 0.f, 1.f, 3);
  const Tensor no_bias;
  const double t_route_kernel = wall_ms(
      [&] {
        const auto st = router::cuda::route_forward(shape, logits, no_bias, B, true, 1e-4);
        (void)st.aux_loss.item();
      },
      reps.reps);
  const double t_route_host = wall_ms(
      [&] {
        std::vector<float> sig = logits.to_floats();
        for (float& v : sig) v = float(1.0 / (1.0 + std::exp(-double(v))));
        std::vector<std::int32_t> ids(std::size_t(N * 4));
        std::vector<float> w(std::size_t(N * 4));
        std::vector<double> dsig(sig.size(), 0.0);
        for (std::int64_t t = 0; t < N; ++t)
          router::select_experts(shape, std::span<const float>(sig).subspan(t * 256, 256), {},
                                 std::span<std::int32_t>(ids).subspan(t * 4, 4),
                                 std::span<float>(w).subspan(t * 4, 4));
        for (std::int64_t b = 0; b < B; ++b)
          router::seq_aux_loss(
              shape, 1e-4, std::span<const float>(sig).subspan(b * T * 256, T * 256), T,
              1.0 / double(B), std::span<double>(dsig).subspan(b * T * 256, T * 256));
        std::vector<float> idf(ids.begin(), ids.end());
        (void)Tensor::from_floats(idf, {N, 4}, DType::i32, a.device);
        (void)Tensor::from_floats(w, {N, 4}, DType::f32, a.device);
      },
      reps.reps);
  // The previous combine: slots gathered from the expert rows, then [1, k] x [k, H] per token.
  std::vector<float> perm(std::size_t(N * 4));  // a fixed scatter of the rows over the slots
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = float((i * 7919) % perm.size());
  const Tensor slot_rows = Tensor::from_floats(perm, {N * 4}, DType::i32, a.device);
  Tensor w32 = Tensor::empty({N, 4}, DType::f32, a.device);
  ops::init_uniform(w32, 0.f, 1.f, 4);
  const Tensor w_bf = ops::cast_to(w32, DType::bf16).view({N, 1, 4});
  const double t_combine_gemm = wall_ms(
      [&] {
        Tensor slots = Tensor::empty({N * 4, H}, DType::f32, a.device);
        ops::embedding_forward(slot_rows, ops::cast_to(y, DType::f32), slots);
        const Tensor yb = ops::cast_to(slots, DType::bf16).view({N, 4, H});
        Tensor out = Tensor::empty({N, 1, H}, DType::bf16, a.device);
        ops::gemm(w_bf, yb, out);
      },
      reps.reps);
  const double t_combine_rows = wall_ms(
      [&] {
        Tensor out = Tensor::empty({N, H}, DType::bf16, a.device);
        ops::combine_rows(y, slot_rows.view({N, 4}), w32, out);
      },
      reps.reps);
  std::printf("side by side (same inputs)       before ms  after ms  ratio\n");
  std::printf("%-32s %9.3f %9.3f %6.1fx\n", "routing: host math / kernels", t_route_host,
              t_route_kernel, t_route_host / t_route_kernel);
  std::printf("%-32s %9.3f %9.3f %6.1fx\n", "combine: batched GEMM / rows", t_combine_gemm,
              t_combine_rows, t_combine_gemm / t_combine_rows);
  return 0;
}
