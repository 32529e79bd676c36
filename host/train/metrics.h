#pragma once
// The run's metrics (spec/training.md §6): one JSON line per step in <run.dir>/metrics.jsonl,
// a console line every [log] interval steps, and on a terminal a progress bar under it.
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "train/parallel_metrics.h"
#include "train/trainer.h"

namespace vpmoe::host::tensorboard {
class EventWriter;
}

namespace vpmoe::host::train {

struct StepRecord {
  StepMetrics m;
  std::int64_t step = 0;  // 1-based: steps done after this one
  double step_s = 0;      // wall time of the step (this rank's)
  int gpus = 1;           // ranks of the run (devices, or CPU processes)
  double tflops = 0;      // model TFLOP/s per device (window-correct FLOPs, forward + backward)
  ParallelStepStats parallel;
  std::optional<double> mfu;
  std::int64_t skipped_total = 0;
  // The re-run's counters so far (train/rerun.h).
  std::int64_t rerun_transient = 0, skipped_nonfinite = 0, skipped_spiky = 0;
};

class MetricsLog {
 public:
  // A resumed run appends to the file it finds (the plot takes the last record per step); a
  // fresh one moves an earlier run's file aside to metrics.jsonl.<n> (nothing is lost). Without
  // console (data-parallel ranks but the first) nothing is printed.
  MetricsLog(const std::string& run_dir, bool json, bool progress, int interval,
             std::int64_t total_steps, bool resumed, bool console = true);
  ~MetricsLog();
  void step(const StepRecord& r);
  void validation(std::int64_t step, double loss);
  // A console line that must not be drawn over by the bar.
  void info(const std::string& line);
  // Also writes the scalars as TensorBoard event files in dir; throws when this build has no
  // protobuf (VPMOE_HAS_TENSORBOARD) or dir cannot be written.
  void enable_tensorboard(const std::string& dir);
  const std::string& path() const { return path_; }

 private:
  void bar(std::int64_t step);
  void clear_bar();
  std::string path_;
  std::ofstream jsonl_;
  std::unique_ptr<tensorboard::EventWriter> tb_;
  bool progress_, console_;
  int interval_;
  std::int64_t total_;
  bool bar_shown_ = false;
  double tokens_per_s_ = 0, step_s_ = 0;
};

}  // namespace vpmoe::host::train
