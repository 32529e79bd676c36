#include "train/run.h"

#include <chrono>
#include <filesystem>

#include "comm/launch.h"
#include "train/batch_source.h"
#include "train/checkpoint.h"
#include "train/metrics.h"
#include "train/model_builder.h"
#include "train/optimizer_set.h"
#include "train/parallel_layout.h"
#include "train/parallel_metrics.h"
#include "train/trainer.h"
#include "vpmoe/comm.h"
#include "vpmoe/log.h"
#include "vpmoe/parallel.h"
#include "vpmoe/tokenizer.h"

namespace vpmoe::host::train {
namespace {

// One process per GPU: the GPU of the launch's local rank.
Device choose_device(const Config& c, const Launch& launch) {
  if (c.run.device == "cpu") return Device::cpu();
  if (c.run.device == "cuda" && !cuda_available())
    c.fail("run.device", "\"cuda\" was asked for, but this build or machine has no CUDA device");
  if (!cuda_available()) return Device::cpu();
  return Device::cuda(local_cuda_device(launch, cuda_device_count()));
}

// The tokenizer's identity, for the checkpoints (and its vocabulary check at start-up).
TokenizerIdentity tokenizer_identity(const Config& c, const Registry& reg) {
  if (!reg.contains(c.plugins.tokenizer)) {
    log::warn("no plugin provides " + c.plugins.tokenizer +
              "; checkpoints record no tokenizer identity");
    return {"(none)", "", c.tokenizer.vocab_size};
  }
  BuildArgs a;
  a.config = &c;
  return reg.create<Tokenizer>(c.plugins.tokenizer, a)->identity();
}

// Dense bf16 peak of the device, TFLOP/s (0: unknown, no MFU).
double peak_tflops(const Config& c, Device d) {
  if (c.log.peak_tflops > 0) return c.log.peak_tflops;
  if (d.is_cpu()) return 0;
  const std::string name = device_name(d);
  if (name.find("H100") != std::string::npos || name.find("H200") != std::string::npos)
    return 989.4;  // SXM dense bf16, NVIDIA's data sheet
  return 0;
}

}  // namespace

std::string checkpoint_dir(const Config& c) {
  return c.checkpoint.dir.empty() ? (std::filesystem::path(c.run.dir) / "checkpoints").string()
                                  : c.checkpoint.dir;
}

RunResult train_run(const Config& c, const Registry& reg, const RunOptions& o) {
  set_comm_timeout(c.parallel.timeout_s);  // the rendezvous waits this long too
  std::shared_ptr<Comm> world = o.comm;
  const Launch launch = world ? Launch{} : detect_launch();
  const Device device = choose_device(c, launch);
  const bool bf16 = device.is_cuda() && c.train.precision == "bf16";
  if (!world) world = world_comm(launch, device, c.parallel.backend);
  log::set_rank(world->rank(), world->size());
  parallel_layout(c, world->size(), world->rank());  // refuses a world tp x ep cannot fill
  const std::shared_ptr<ParallelState> ps = make_parallel_state(
      world, c.parallel.tensor_model_parallel_size, c.parallel.expert_model_parallel_size);
  Comm* dp = ps->dp.get();
  const int mb = c.train.micro_batch_size, G = c.train.global_batch_size;
  if (G % (mb * dp->size()) != 0)
    c.fail("train.global_batch_size",
           "must be a multiple of micro_batch_size x data-parallel ranks = " +
               std::to_string(mb * dp->size()) + ", found " + std::to_string(G));
  const int k = G / (mb * dp->size());
  const std::int64_t T = c.attention.max_sequence_length;

  const TokenizerIdentity tok = tokenizer_identity(c, reg);
  log::info("device " + device_name(device) + (bf16 ? ", bf16 compute" : ", fp32") + "; " +
            std::to_string(k) + " micro-batch(es) of " + std::to_string(mb) + " x " +
            std::to_string(T) + " tokens per step");
  auto model = build_model(c, reg, ModelTarget{device, bf16, c.run.seed, ps});
  OptimizerSet opt(c, reg, model->parameters(), ps.get());
  std::unique_ptr<BatchSource> train =
      make_train_source(c, c.train.train_iters, k, dp->rank(), dp->size(), device);
  std::unique_ptr<Loss> loss = make_loss(c, reg);
  try {
    loss->check_inputs(train->has_span(), train->has_teacher_logp());
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    c.fail("plugins.loss", e.what());
  }
  Trainer trainer(c, *model, opt, *ps, std::move(loss));
  if (o.fault_hook) trainer.set_fault_hook(o.fault_hook);
  std::unique_ptr<BatchSource> valid;
  if (c.data.eval_interval > 0 && !c.data.valid_paths.empty()) {
    auto blend =
        std::make_shared<data::BlendedDataset>(c.data.valid_paths, std::vector<double>{}, T,
                                               std::int64_t(c.data.eval_iters) * G, c.run.seed + 1);
    valid = std::make_unique<IndexedSource>(blend, mb, k, dp->rank(), dp->size(), device);
  }

  CheckpointParts parts{&c, model.get(), &opt, &trainer, train.get(), tok, G, k, ps};
  RunResult result;
  const std::string ckpt_dir = checkpoint_dir(c);
  if (o.resume || !c.checkpoint.load.empty()) {
    result.resumed_from =
        load_checkpoint(c.checkpoint.load.empty() ? ckpt_dir : c.checkpoint.load, parts);
    log::info("resumed from " + result.resumed_from + " at iteration " +
              std::to_string(trainer.iteration()));
  }
  result.first_step = trainer.iteration();

  MetricsLog metrics(c.run.dir, c.log.json && dp->rank() == 0, c.log.progress, c.log.interval,
                     c.train.train_iters, !result.resumed_from.empty(), dp->rank() == 0);
  if (c.log.tensorboard && ps->layout.rank == 0)
    metrics.enable_tensorboard((std::filesystem::path(c.run.dir) / "tensorboard").string());
  const double flops_per_token = 3.0 * model->flops_per_token(T);
  const double peak = peak_tflops(c, device);
  std::int64_t evaluated_at = -1;
  auto evaluate = [&] {
    if (!valid) return;
    evaluated_at = trainer.iteration();
    valid->seek(0);  // the same validation samples every time, so the curve compares
    const double loss = trainer.evaluate(*valid, c.data.eval_iters * k);
    result.valid_losses.push_back(loss);
    metrics.validation(trainer.iteration(), loss);
  };
  auto save = [&] {
    if (!c.checkpoint.save) return;  // every rank writes its part
    const std::string written = save_checkpoint(ckpt_dir, parts);
    if (ps->layout.rank != 0) return;
    result.checkpoint = written;
    metrics.info("checkpoint " + result.checkpoint);
  };

  if (valid && trainer.iteration() == 0) evaluate();
  std::int64_t a2a_bytes = trainer.all_to_all_bytes();
  while (trainer.iteration() < c.train.train_iters) {
    const auto t0 = std::chrono::steady_clock::now();
    StepMetrics m;
    try {
      m = trainer.step(*train, k);
    } catch (const TrainingStopped&) {
      save();
      throw;
    }
    synchronize(device);
    StepRecord r;
    r.m = m;
    r.step = trainer.iteration();
    r.step_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::int64_t bytes = trainer.all_to_all_bytes();
    r.parallel = gather_step_stats(*ps, r.step_s, bytes - a2a_bytes);
    a2a_bytes = bytes;
    r.gpus = ps->layout.world;
    // Per GPU: the slowest rank's time sets the pace of all.
    const double pace = std::max(r.step_s, r.parallel.slowest_step_s);
    r.tflops = pace > 0 ? flops_per_token * double(m.tokens) / pace / 1e12 / r.gpus : 0;
    if (peak > 0) r.mfu = r.tflops / peak;
    r.skipped_total = trainer.skipped_total();
    r.rerun_transient = trainer.rerun_transient();
    r.skipped_nonfinite = trainer.skipped_nonfinite();
    r.skipped_spiky = trainer.skipped_spiky();
    metrics.step(r);
    result.losses.push_back(m.loss);
    const std::int64_t it = trainer.iteration();
    if (o.after_step) o.after_step(it);
    if (c.data.eval_interval > 0 && it % c.data.eval_interval == 0) evaluate();
    if (c.checkpoint.save_interval > 0 && it % c.checkpoint.save_interval == 0 &&
        it != c.train.train_iters)
      save();
  }
  // The last step is always evaluated, so a run shorter than eval_interval still reports where
  // it ended (a resumed run that has nothing left to train evaluates again: same samples).
  if (valid && evaluated_at != trainer.iteration()) evaluate();
  save();
  return result;
}

}  // namespace vpmoe::host::train
