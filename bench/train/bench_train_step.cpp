// Training steps of the locked 80-layer model on one GPU (configs/run_vpmoe_bench.toml: real
// text, seq 2048, micro-batch 4, two micro-batches a step), bf16 compute with fp32 main weights
// and grads, NorMuon + AdamW. Prints the median step, tokens/s, model TFLOP/s (window-correct
// FLOPs x 3), MFU against 989.4 TFLOP/s (H100/H200 SXM dense bf16), peak pool memory, and the
// step split into data, forward, backward and the update (clip + expert bias + optimizers), each
// timed alone between device synchronisations, then the update's parts alone. --layers N keeps
// the first N layers (8: the slice the public vpMoE figure was measured on). --profile runs one
// step between cudaProfilerStart/Stop after the warm-up and exits (scripts/profile-train-step.sh
// runs it under ncu). VPMOE_HOST_PROFILE=1 adds the host's time by part for one step.
// --recompute MODE overrides [train] recompute (none | moe | attention | full) and
// --micro-batch N the micro-batch (the global batch must stay a multiple of it), to measure the
// peak memory and the step time of each mode; the model TFLOP/s and MFU count no recomputation.
//   bench_train_step [--config RUN.toml] [--layers N] [--recompute MODE] [--micro-batch N]
//                    [--reps N] [--warmup N] [--profile]
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "../cuda_timing.h"
#include "device/cuda_device.h"
#include "device/host_profile.h"
#include "registry/plugin_loader.h"
#include "train/batch_source.h"
#include "train/grad_clip.h"
#include "train/model_builder.h"
#include "train/optimizer_set.h"
#include "train/trainer.h"
#include "vpmoe/comm.h"
#include "vpmoe/config.h"
#include "vpmoe/parallel.h"

using namespace vpmoe;
using namespace vpmoe::host::train;

int main(int argc, char** argv) {
  const bench::Reps reps = bench::parse_reps(argc, argv, {2, 5});
  std::string path = std::string(VPMOE_SOURCE_DIR) + "/configs/run_vpmoe_bench.toml";
  int layers = 0, micro_batch = 0;
  std::string recompute;
  bool profile = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--profile") profile = true;
    if (i + 1 < argc && a == "--config") path = argv[i + 1];
    if (i + 1 < argc && a == "--layers") layers = std::atoi(argv[i + 1]);
    if (i + 1 < argc && a == "--recompute") recompute = argv[i + 1];
    if (i + 1 < argc && a == "--micro-batch") micro_batch = std::atoi(argv[i + 1]);
  }
  if (!cuda_available()) {
    std::printf("bench_train_step: no CUDA device\n");
    return 0;
  }
  Config c = load_config(path);
  if (layers > 0) {
    if (!c.attention.window_attn_pattern.empty() || layers > c.model.num_layers) {
      std::fprintf(stderr,
                   "bench_train_step: --layers %d needs an integer layer pattern and at "
                   "most %d layers\n",
                   layers, c.model.num_layers);
      return 2;
    }
    c.model.num_layers = layers;
  }
  if (!recompute.empty()) {
    try {
      model::recompute_from_name(recompute);
    } catch (const Error& e) {
      std::fprintf(stderr, "bench_train_step: --recompute: %s\n", e.what());
      return 2;
    }
    c.train.recompute = recompute;
  }
  if (micro_batch > 0) {
    if (c.train.global_batch_size % micro_batch != 0) {
      std::fprintf(stderr,
                   "bench_train_step: --micro-batch %d does not divide the global batch %d\n",
                   micro_batch, c.train.global_batch_size);
      return 2;
    }
    c.train.micro_batch_size = micro_batch;
  }
  Registry reg;
  for (const auto& e : load_plugins({VPMOE_PLUGIN_DIR}, reg).errors)
    std::fprintf(stderr, "plugin: %s\n", e.message.c_str());
  const Device dev = Device::cuda(0);
  auto model = build_model(c, reg, ModelTarget{dev, true, c.run.seed});
  OptimizerSet opt(c, reg, model->parameters());
  const auto ps = single_process_state();
  Trainer trainer(c, *model, opt, *ps, make_loss(c, reg));
  const std::int64_t B = c.train.micro_batch_size, T = c.attention.max_sequence_length;
  const int k = c.train.global_batch_size / c.train.micro_batch_size;
  // [data] source: mock tokens, or real text (an indexed dataset: scripts/bench-train-step.sh).
  // Enough global batches for every timed pass.
  const int passes = 3 * (reps.reps + reps.warmup) + 4;
  const std::unique_ptr<BatchSource> source = make_train_source(c, passes, k, 0, 1, dev);
  BatchSource& data = *source;
  std::int64_t params = 0;
  for (Parameter* p : model->parameters()) params += p->value.numel();

  if (profile) {  // one step for a profiler, after the warm-up
    for (int i = 0; i < reps.warmup; ++i) trainer.step(data, k);
    cudaDeviceSynchronize();
    cudaProfilerStart();
    trainer.step(data, k);
    cudaDeviceSynchronize();
    cudaProfilerStop();
    std::printf("bench_train_step: profiled one step of %s (%d layers)\n", path.c_str(),
                c.model.num_layers);
    return 0;
  }
  // The first step alone: its peak is what a run logs (and where an out-of-memory shows).
  trainer.step(data, k);
  cudaDeviceSynchronize();
  std::printf("bench_train_step: first step done, peak %.1f GB\n",
              double(peak_device_bytes(dev)) / 1e9);
  std::fflush(stdout);
  const double step_ms =
      bench::wall_ms([&] { trainer.step(data, k); }, reps.reps, std::max(0, reps.warmup - 1));
  const double data_ms = bench::wall_ms([&] { data.next(); }, reps.reps, 1);
  const double fwd_ms = bench::wall_ms(
      [&] {
        for (int i = 0; i < k; ++i) {
          const Batch b = data.next();
          Context ctx{dev, b.batch, b.seq_len, false, 1.0};
          model->run(ctx, b.ids, b.targets, b.mask, 1.f, false);
        }
      },
      reps.reps, 1);
  const double acc_ms = bench::wall_ms([&] { trainer.accumulate(data, k); }, reps.reps, 1);
  // One forward and one forward + backward again, counting the host's waits on the device: a
  // stretch the host spends little of waiting is bound by the host's launches, not the GPU.
  auto waited = [&](const std::function<void()>& fn) {
    cudaDeviceSynchronize();
    const cuda_impl::HostWaits w0 = cuda_impl::host_waits();
    const double ms = bench::wall_ms(fn, 1, 0);
    const cuda_impl::HostWaits w1 = cuda_impl::host_waits();
    char line[160];
    std::snprintf(line, sizeof line, "%.1f ms, the host waiting %.1f ms of it in %llu waits", ms,
                  (w1.seconds - w0.seconds) * 1e3,
                  static_cast<unsigned long long>(w1.count - w0.count));
    return std::string(line);
  };
  const std::string fwd_waits = waited([&] {
    for (int i = 0; i < k; ++i) {
      const Batch b = data.next();
      Context ctx{dev, b.batch, b.seq_len, false, 1.0};
      model->run(ctx, b.ids, b.targets, b.mask, 1.f, false);
    }
  });
  const std::string acc_waits = waited([&] { trainer.accumulate(data, k); });
  // The update's parts alone, on the grads the last accumulation left.
  // The clip as the trainer runs it: the norm, its factor left to the optimizers.
  const double clip_ms = bench::wall_ms(
      [&] { clip_grad_norm(model->parameters(), c.train.clip_grad, false); }, reps.reps, 1);
  std::string parts;
  for (const OptimizerSet::Group& g : opt.groups()) {
    const double ms = bench::wall_ms(
        [&] {
          g.optimizer->step(OptimizerStep{0, 1e-4, c.train.weight_decay});
        },
        reps.reps, 1);
    char line[160];
    std::snprintf(line, sizeof line, " | %s (%zu parameters) %.1f ms", g.spec.c_str(), g.parameters,
                  ms);
    parts += line;
  }
  const double tokens = double(B * T * k);
  const double tflops = 3.0 * model->flops_per_token(T) * tokens / (step_ms * 1e-3) / 1e12;
  const double peak_gb = double(peak_device_bytes(dev)) / 1e9;
  std::printf("bench_train_step on %s: %s\n", device_name(dev).c_str(), path.c_str());
  std::printf(
      "  %d layers, %.3f B parameters, %d x %lld x %lld = %.0f tokens per step, recompute %s\n",
      c.model.num_layers, double(params) / 1e9, k, static_cast<long long>(B),
      static_cast<long long>(T), tokens, c.train.recompute.c_str());
  std::printf(
      "  step %.1f ms (median of %d) | %.0f tokens/s | %.1f TFLOP/s | MFU %.1f%% of "
      "989.4 | peak %.1f GB\n",
      step_ms, reps.reps, tokens / (step_ms * 1e-3), tflops, 100 * tflops / 989.4, peak_gb);
  std::printf(
      "  data %.2f ms | forward %.1f ms | backward %.1f ms | update (clip, bias, "
      "optimizers) %.1f ms\n",
      data_ms * k, fwd_ms - data_ms * k, acc_ms - fwd_ms, step_ms - acc_ms);
  std::printf("  update alone: clip %.1f ms%s\n", clip_ms, parts.c_str());
  std::printf("  host waits: forward %s | forward + backward %s\n", fwd_waits.c_str(),
              acc_waits.c_str());
  if (host_profile::enabled()) {  // VPMOE_HOST_PROFILE=1: the host's time by part, one step
    cudaDeviceSynchronize();
    host_profile::reset();
    const cuda_impl::HostWaits w0 = cuda_impl::host_waits();
    const double ms = bench::wall_ms([&] { trainer.step(data, k); }, 1, 0);
    const cuda_impl::HostWaits w1 = cuda_impl::host_waits();
    std::printf("  host time by part, one step of %.1f ms (waiting on the device %.1f ms):\n%s", ms,
                (w1.seconds - w0.seconds) * 1e3, host_profile::report().c_str());
  }
  if (c.model.num_layers == 8)  // the public figure is for the 8-layer slice only
    std::printf(
        "  reference (vpMoE Megatron, H100, same slice): ~1,200 tokens/s (5.8-8.4 s per "
        "step), 28.6 GB peak -> %.1fx the tokens/s\n",
        tokens / (step_ms * 1e-3) / 1200.0);
  return 0;
}
