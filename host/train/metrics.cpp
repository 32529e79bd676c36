#include "train/metrics.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "vpmoe/error.h"
#if VPMOE_HAS_TENSORBOARD
#include "tensorboard/event_writer.h"
#endif
#include "vpmoe/log.h"

namespace vpmoe::host::train {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// JSON has no NaN or infinity: a non-finite value is written as null.
nlohmann::json num(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
}

}  // namespace

MetricsLog::MetricsLog(const std::string& run_dir, bool json, bool progress, int interval,
                       std::int64_t total_steps, bool resumed, bool console)
    : progress_(console && progress && ::isatty(STDERR_FILENO)),
      console_(console),
      interval_(interval > 0 ? interval : 1),
      total_(total_steps) {
  if (!json) return;
  std::filesystem::create_directories(run_dir);
  path_ = (std::filesystem::path(run_dir) / "metrics.jsonl").string();
  if (!resumed && std::filesystem::exists(path_)) {
    std::string aside;
    for (int n = 1; aside.empty() || std::filesystem::exists(aside); ++n)
      aside = path_ + "." + std::to_string(n);
    std::filesystem::rename(path_, aside);
    log::info("an earlier run's metrics moved to " + aside);
  }
  jsonl_.open(path_, std::ios::app);
  if (!jsonl_) throw Error(path_ + ": cannot open for appending the per-step metrics");
}

MetricsLog::~MetricsLog() {
  clear_bar();
}

void MetricsLog::enable_tensorboard(const std::string& dir) {
#if VPMOE_HAS_TENSORBOARD
  tb_ = std::make_unique<tensorboard::EventWriter>(dir);
  log::info("TensorBoard events in " + tb_->path());
#else
  throw Error(
      "[log] tensorboard = true, but this vpmoe-host was built without protobuf "
      "(install libprotobuf-dev and protobuf-compiler and rebuild); " +
      dir + " is not written");
#endif
}

// "12.3 MB", "4.5 kB", "12 B".
std::string bytes_str(std::int64_t b) {
  if (b >= 1000000) return fmt("%.1f", double(b) / 1e6) + " MB";
  if (b >= 1000) return fmt("%.1f", double(b) / 1e3) + " kB";
  return std::to_string(b) + " B";
}

void MetricsLog::step(const StepRecord& r) {
  const StepMetrics& m = r.m;
  step_s_ = r.step_s;
  // The slowest rank paces the run.
  const double pace = std::max(r.step_s, r.parallel.slowest_step_s);
  tokens_per_s_ = pace > 0 ? double(m.tokens) / pace : 0;
  if (jsonl_.is_open()) {
    nlohmann::json j = {{"step", r.step},
                        {"loss", num(m.loss)},
                        {"aux_loss", num(m.aux_loss)},
                        {"lr", m.lr},
                        {"grad_norm", num(m.grad_norm)},
                        {"tokens", m.tokens},
                        {"step_s", r.step_s},
                        {"tokens_per_s", tokens_per_s_},
                        {"tokens_per_s_per_gpu", tokens_per_s_ / r.gpus},
                        {"tflops", r.tflops},
                        {"tflops_total", r.tflops * r.gpus},
                        {"gpus", r.gpus},
                        {"slowest_step_s", r.parallel.slowest_step_s},
                        {"comm_wait_share", r.parallel.comm_wait_share},
                        {"all_to_all_bytes", r.parallel.all_to_all_bytes},
                        {"skipped", m.skipped},
                        {"skipped_total", r.skipped_total},
                        {"rerun_transient", r.rerun_transient},
                        {"skipped_nonfinite", r.skipped_nonfinite},
                        {"skipped_spiky", r.skipped_spiky},
                        {"moe_load_cv", m.load.cv},
                        {"moe_load_min", m.load.min},
                        {"moe_load_max", m.load.max}};
    if (r.mfu) j["mfu"] = *r.mfu;
    if (m.loss_reasoning) j["loss_reasoning"] = num(*m.loss_reasoning);
    if (m.loss_final) j["loss_final"] = num(*m.loss_final);
    if (m.rerun != Rerun::none) {  // the step was re-run: why, and how it ended
      j["rerun"] = m.rerun == Rerun::transient ? "transient" : "skipped";
      j["anomaly"] = anomaly_key(m.anomaly);
    }
    jsonl_ << j.dump() << "\n";
    jsonl_.flush();
  }
#if VPMOE_HAS_TENSORBOARD
  if (tb_) {
    std::vector<std::pair<std::string, double>> v = {
        {"train/loss", m.loss},
        {"train/aux_loss", m.aux_loss},
        {"train/lr", m.lr},
        {"train/grad_norm", m.grad_norm},
        {"perf/tokens_per_s", tokens_per_s_},
        {"perf/tflops_per_gpu", r.tflops},
        {"perf/step_s", r.step_s},
        {"train/skipped_total", double(r.skipped_total)},
        {"moe/load_cv", m.load.cv}};
    if (r.mfu) v.push_back({"perf/mfu", *r.mfu});
    if (m.loss_reasoning) v.push_back({"train/loss_reasoning", *m.loss_reasoning});
    if (m.loss_final) v.push_back({"train/loss_final", *m.loss_final});
    if (r.gpus > 1) v.push_back({"perf/comm_wait_share", r.parallel.comm_wait_share});
    tb_->scalars(r.step, v);
  }
#endif
  if (r.step % interval_ == 0 || r.step == total_) {
    std::string line =
        "step " + std::to_string(r.step) + "/" + std::to_string(total_) + " | loss " +
        fmt("%.4f", m.loss) +
        (m.loss_reasoning ? " (reasoning " + fmt("%.4f", *m.loss_reasoning) + ")" : std::string()) +
        (m.loss_final ? " (final " + fmt("%.4f", *m.loss_final) + ")" : std::string()) + " | lr " +
        fmt("%.3e", m.lr) + " | grad norm " + fmt("%.3f", m.grad_norm) + " | " +
        fmt("%.0f", tokens_per_s_) + " tok/s";
    if (r.gpus > 1) line += " (" + fmt("%.0f", tokens_per_s_ / r.gpus) + " per GPU)";
    line += " | " + fmt("%.2f", r.tflops) + " TFLOP/s";
    if (r.gpus > 1) {
      line += " per GPU, " + fmt("%.2f", r.tflops * r.gpus) + " in all | slowest " +
              fmt("%.3f", r.parallel.slowest_step_s) + " s | comm wait " +
              fmt("%.0f", 100 * r.parallel.comm_wait_share) + "%";
      if (r.parallel.all_to_all_bytes > 0)
        line += " | all-to-all " + bytes_str(r.parallel.all_to_all_bytes);
    }
    if (r.mfu) line += " | MFU " + fmt("%.1f", 100 * *r.mfu) + "%";
    if (m.load.max > 0)
      line += " | moe cv " + fmt("%.3f", m.load.cv) + " (max/min " + std::to_string(m.load.max) +
              "/" + std::to_string(m.load.min) + ")";
    line += " | skipped " + std::to_string(r.skipped_total);
    if (r.skipped_nonfinite > 0)
      line += " (non-finite " + std::to_string(r.skipped_nonfinite) + ")";
    if (r.skipped_spiky > 0) line += " (spiky " + std::to_string(r.skipped_spiky) + ")";
    if (r.rerun_transient > 0) line += " | transient faults " + std::to_string(r.rerun_transient);
    info(line);
  }
  bar(r.step);
}

void MetricsLog::validation(std::int64_t step, double loss) {
  if (jsonl_.is_open()) {
    jsonl_ << nlohmann::json({{"step", step}, {"valid_loss", num(loss)}}).dump() << "\n";
    jsonl_.flush();
  }
#if VPMOE_HAS_TENSORBOARD
  if (tb_) tb_->scalars(step, {{"validation/loss", loss}});
#endif
  info("validation at step " + std::to_string(step) + " | loss " + fmt("%.4f", loss));
}

void MetricsLog::info(const std::string& line) {
  if (!console_) return;
  clear_bar();
  log::info(line);
}

void MetricsLog::bar(std::int64_t step) {
  if (!progress_ || total_ <= 0) return;
  constexpr int kWidth = 30;
  const int filled = int(kWidth * double(step) / double(total_));
  std::string b(std::size_t(filled), '#');
  b.resize(kWidth, '.');
  const double eta = double(total_ - step) * step_s_;
  std::fprintf(stderr, "\r[%s] %lld/%lld  %.0f tok/s  eta %.0f s", b.c_str(),
               static_cast<long long>(step), static_cast<long long>(total_), tokens_per_s_, eta);
  std::fflush(stderr);
  bar_shown_ = true;
}

void MetricsLog::clear_bar() {
  if (!bar_shown_) return;
  std::fprintf(stderr, "\r\x1b[2K");
  std::fflush(stderr);
  bar_shown_ = false;
}

}  // namespace vpmoe::host::train
