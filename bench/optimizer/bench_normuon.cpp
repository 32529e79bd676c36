// One optimizer.normuon step over the parameters that route to it (vpmoe::optimizer_group) in
// an 8-layer slice of the locked config: layer 1 dense, layers 2-8 MoE (256 experts each),
// TPA local and GQA global attention as the 3:1 schedule says, each module built by its
// plugin's code. Wall time of the step with device synchronisation (median), the Polar Express
// FLOPs (5 (4 m^2 n + 2 m^3) per matrix, m the short side) as TFLOP/s; beside it, alternating
// with it, the same step with the separate passes (fused_passes = false, the same bits), and
// the step one matrix at a time (batch_same_shape = false).
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../cuda_timing.h"
#include "deepseek_router.h"
#include "dense_ffn.h"
#include "gqa_attention.h"
#include "grape_a.h"
#include "grouped_mlp.h"
#include "normuon.h"
#include "rotary_positional.h"
#include "tpa_attention.h"
#include "vpmoe/config.h"
#include "vpmoe/ops.h"

using namespace vpmoe;

namespace {

double wall_ms(const std::function<void()>& fn, int reps) {
  return bench::wall_ms(fn, reps, 1);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Reps reps = bench::parse_reps(argc, argv, {1, 10});
  if (!cuda_available()) {
    std::printf("bench_normuon: no CUDA device\n");
    return 0;
  }
  const Config c = load_config(VPMOE_LOCKED_CONFIG);
  const Device dev = Device::cuda(0);
  std::vector<std::unique_ptr<Module>> modules;
  for (int l = 1; l <= 8; ++l) {
    const bool global = c.layer_is_global(l);
    BuildArgs a;
    a.config = &c;
    a.layer = LayerInfo{l, c.model.num_layers, global, global ? 0 : c.attention.window_size};
    a.device = dev;
    a.bf16_compute = true;
    a.positional = global ? std::shared_ptr<Positional>(grape_a::build(a))
                          : std::shared_ptr<Positional>(rotary::build_grape_m(a));
    modules.push_back(global ? attention::build_gqa(a) : attention::build_tpa(a));
    if (c.layer_is_moe(l)) {
      modules.push_back(router::build(a));
      modules.push_back(experts::build(a));
    }
    modules.push_back(ffn::build(a));  // layer 1's dense FFN, else the shared expert
  }
  std::vector<Parameter*> matrices;
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> shapes;
  std::int64_t elements = 0, others = 0;
  double pe_flops = 0;
  for (auto& m : modules)
    for (Parameter* p : m->parameters()) {
      if (optimizer_group(*p) != OptimizerGroup::matrix) {
        ++others;
        continue;
      }
      matrices.push_back(p);
      ops::init_normal(p->grad, 0.f, 1e-3f, 7 + matrices.size());
      const std::int64_t count = p->value.ndim() == 3 ? p->value.size(0) : 1;
      const double r = double(p->value.size(-2)), k = double(p->value.size(-1));
      const double s = std::min(r, k), l = std::max(r, k);
      pe_flops += double(count) * 5 * (4 * s * s * l + 2 * s * s * s);
      shapes[{p->value.size(-2), p->value.size(-1)}] += count;
      elements += p->value.numel();
    }
  std::int64_t count = 0;
  for (const auto& [shape, n] : shapes) count += n;

  normuon::NorMuon batched{normuon::NorMuonOptions{}};
  batched.add_parameters(matrices);
  normuon::NorMuonOptions sep;
  sep.fused_passes = false;
  normuon::NorMuon separate{sep};
  separate.add_parameters(matrices);
  // Fused and separate passes alternate, so clock and thermal drift hit both alike.
  std::vector<double> fused_ms, separate_ms;
  for (int r = 0; r < 3; ++r) {
    fused_ms.push_back(wall_ms([&] { batched.step(OptimizerStep{0, 1e-4, 0.01}); }, reps.reps));
    separate_ms.push_back(wall_ms([&] { separate.step(OptimizerStep{0, 1e-4, 0.01}); }, reps.reps));
  }
  std::sort(fused_ms.begin(), fused_ms.end());
  std::sort(separate_ms.begin(), separate_ms.end());
  const double t_batched = fused_ms[1], t_separate = separate_ms[1];
  normuon::NorMuonOptions one;
  one.batch_same_shape = false;
  normuon::NorMuon single{one};
  single.add_parameters(matrices);
  bool run_single = true;  // --no-single: the buckets only (for a profiler)
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--no-single") run_single = false;
  const double t_single = run_single ? wall_ms(
                                           [&] {
                                             single.step(OptimizerStep{0, 1e-4, 0.01});
                                           },
                                           2)
                                     : 0.0;

  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  std::printf("bench_normuon on %s: 8-layer slice of %s\n", prop.name, VPMOE_LOCKED_CONFIG);
  std::printf("%lld matrices in %zu shapes (%.1fM elements) to NorMuon; %lld other parameters\n",
              (long long)count, shapes.size(), double(elements) / 1e6, (long long)others);
  for (const auto& [shape, n] : shapes)
    std::printf("  %5lld x %-5lld  x %lld\n", (long long)shape.first, (long long)shape.second,
                (long long)n);
  std::printf("Polar Express: %.2f TFLOP per step\n", pe_flops / 1e12);
  std::printf("%-34s %10s %10s\n", "NorMuon step", "ms", "PE TFLOP/s");
  std::printf("%-34s %10.2f %10.1f\n", "same-shape buckets (median of reps)", t_batched,
              pe_flops / t_batched / 1e9);
  std::printf("%-34s %10.2f %10.1f   fused / separate %.3f\n", "  the same, separate passes",
              t_separate, pe_flops / t_separate / 1e9, t_batched / t_separate);
  if (run_single) {
    std::printf("%-34s %10.2f %10.1f\n", "one matrix at a time (median of 2)", t_single,
                pe_flops / t_single / 1e9);
    std::printf("ratio %.1fx\n", t_single / t_batched);
  }
  std::printf("device memory in use %.1f GB\n", double(total_b - free_b) / 1e9);
  return 0;
}
