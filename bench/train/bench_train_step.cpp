// Training steps of an 8-layer slice of the locked config (6 TPA local + 2 GQA global layers,
// 1 dense + 7 MoE layers of 256 experts) on one GPU: seq 2048, micro-batch 4 (8,192 tokens a
// step), mock data, bf16 compute with fp32 main weights and grads, NorMuon + AdamW. Prints the
// median step, tokens/s, model TFLOP/s (window-correct FLOPs x 3), MFU against 989.4 TFLOP/s
// (H100/H200 SXM dense bf16), peak pool memory, and the step split into data, forward,
// backward and the update (clip + expert bias + optimizers), each timed alone between device
// synchronisations, then the update's parts alone (the clip, each optimizer group). The public
// vpMoE (Megatron) figure for this slice on an H100 is printed beside it: ~1,200 tokens/s,
// 28.6 GB peak (it cannot run here).
//   bench_train_step [--config RUN.toml] [--reps N] [--warmup N]
#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "../cuda_timing.h"
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
  std::string path = std::string(VPMOE_SOURCE_DIR) + "/configs/run_vpmoe_slice8.toml";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--config") path = argv[i + 1];
  if (!cuda_available()) {
    std::printf("bench_train_step: no CUDA device\n");
    return 0;
  }
  const Config c = load_config(path);
  Registry reg;
  for (const auto& e : load_plugins({VPMOE_PLUGIN_DIR}, reg).errors)
    std::fprintf(stderr, "plugin: %s\n", e.message.c_str());
  const Device dev = Device::cuda(0);
  auto model = build_model(c, reg, ModelTarget{dev, true, c.run.seed});
  OptimizerSet opt(c, reg, model->parameters());
  const auto ps = single_process_state();
  Trainer trainer(c, *model, opt, *ps);
  const std::int64_t B = c.train.micro_batch_size, T = c.attention.max_sequence_length;
  const int k = c.train.global_batch_size / c.train.micro_batch_size;
  // [data] source: mock tokens, or real text (an indexed dataset: scripts/bench-train-step.sh).
  // Enough global batches for every timed pass.
  const int passes = 3 * (reps.reps + reps.warmup) + 4;
  const std::unique_ptr<BatchSource> source = make_train_source(c, passes, k, 0, 1, dev);
  BatchSource& data = *source;
  std::int64_t params = 0;
  for (Parameter* p : model->parameters()) params += p->value.numel();

  const double step_ms = bench::wall_ms([&] { trainer.step(data, k); }, reps.reps, reps.warmup);
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
  std::printf("  %d layers, %.3f B parameters, %d x %lld x %lld = %.0f tokens per step\n",
              c.model.num_layers, double(params) / 1e9, k, static_cast<long long>(B),
              static_cast<long long>(T), tokens);
  std::printf(
      "  step %.1f ms (median of %d) | %.0f tokens/s | %.1f TFLOP/s | MFU %.1f%% of "
      "989.4 | peak %.1f GB\n",
      step_ms, reps.reps, tokens / (step_ms * 1e-3), tflops, 100 * tflops / 989.4, peak_gb);
  std::printf(
      "  data %.2f ms | forward %.1f ms | backward %.1f ms | update (clip, bias, "
      "optimizers) %.1f ms\n",
      data_ms * k, fwd_ms - data_ms * k, acc_ms - fwd_ms, step_ms - acc_ms);
  std::printf("  update alone: clip %.1f ms%s\n", clip_ms, parts.c_str());
  if (c.model.num_layers == 8)  // the public figure is for the 8-layer slice only
    std::printf(
        "  reference (vpMoE Megatron, H100, same slice): ~1,200 tokens/s (5.8-8.4 s per "
        "step), 28.6 GB peak -> %.1fx the tokens/s\n",
        tokens / (step_ms * 1e-3) / 1200.0);
  return 0;
}
