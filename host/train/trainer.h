#pragma once
// One training step (spec/training.md §2): the micro-batches' forward/backward accumulated
// into the main grads (the objective of the loss plugin, vpmoe/loss.h, normalised over the
// step's global batch: its totals are summed over the micro-batches and the data-parallel
// ranks before the first forward; the MoE aux losses weighted 1 / micro-batches), their
// data-parallel mean (GradSync: buckets, started from the last backward), the global-norm clip, and
// then either the update (the MoE expert-bias update from the counts summed over the dp group, then
// every optimizer at its scheduled rate). A non-finite loss or grad norm (or a spiky loss, with
// [train] check_for_spiky_loss) re-runs the step once from the same state and micro-batches
// (train/rerun.h): a clean re-run is a transient fault and its step is taken; a bad one skips
// the step and logs its samples. Too many skipped in a row stops the run with an error.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "model/gpt_model.h"
#include "moe/moe_layer.h"
#include "train/batch_source.h"
#include "train/grad_sync.h"
#include "train/optimizer_set.h"
#include "train/rerun.h"
#include "vpmoe/comm.h"
#include "vpmoe/error.h"
#include "vpmoe/loss.h"
#include "vpmoe/parallel.h"

namespace vpmoe::host::train {

struct StepMetrics {
  std::int64_t iteration = 0;  // this step's index, skipped steps included
  double loss = 0;             // the loss plugin's objective over the step's global batch
  double aux_loss = 0;         // the MoE aux losses, averaged over micro-batches and dp ranks
  // With span labels: the mean CE over the global batch's reasoning (span 1) and final (span
  // 2) labels whose loss mask is > 0; empty without span labels or with no such label.
  std::optional<double> loss_reasoning, loss_final;
  double grad_norm = 0;
  double lr = 0;  // the matrix group's (the first group's when there is none)
  bool skipped = false;
  Rerun rerun = Rerun::none;
  Anomaly anomaly = Anomaly::none;  // the first attempt's, when it was re-run
  std::int64_t tokens = 0;          // over all data-parallel ranks
  moe::LoadStats load;              // the most imbalanced MoE layer (largest cv) of the step
};

// Too many non-finite steps in a row: the run saves a final checkpoint and stops.
class TrainingStopped : public Error {
 public:
  using Error::Error;
};

// What a checkpoint keeps of the trainer.
struct TrainerCounters {
  std::int64_t iteration = 0, updates = 0, skipped_total = 0;
  int skipped_in_a_row = 0;
  // Re-runs that were clean; steps skipped because the re-run was non-finite or spiky too.
  std::int64_t rerun_transient = 0, skipped_nonfinite = 0, skipped_spiky = 0;
  std::int64_t spike_seen = 0;  // SpikeReference
  double spike_reference = 0;
};

class Trainer {
 public:
  // ps: the run's process groups (single_process_state() for one process); loss: the
  // objective ([plugins] loss, make_loss).
  Trainer(const Config& c, model::GptModel& m, OptimizerSet& opt, const ParallelState& ps,
          std::unique_ptr<Loss> loss);
  // Forward/backward of k micro-batches into the (zeroed) main grads, averaged over dp; loss
  // and aux in the metrics. The grads are left for the caller (step() goes on to the update).
  StepMetrics accumulate(BatchSource& data, int k);
  StepMetrics step(BatchSource& data, int k);
  std::int64_t iteration() const { return iteration_; }
  std::int64_t updates() const { return updates_; }
  int skipped_in_a_row() const { return skipped_in_a_row_; }
  std::int64_t skipped_total() const { return skipped_total_; }
  std::int64_t rerun_transient() const { return rerun_transient_; }
  std::int64_t skipped_nonfinite() const { return skipped_nonfinite_; }
  std::int64_t skipped_spiky() const { return skipped_spiky_; }
  SpikeReference& spike_reference() { return spike_; }
  // Tests only: faults injected into the attempts (train/rerun.h).
  void set_fault_hook(FaultHook hook) { fault_hook_ = std::move(hook); }
  // Bytes the MoE layers' dispatchers have sent to other ranks since they were built.
  std::int64_t all_to_all_bytes() const;
  TrainerCounters counters() const;
  void set_counters(const TrainerCounters& c);
  // Loss-masked mean loss of k micro-batches without backward (validation).
  double evaluate(BatchSource& data, int k);
  const GradSync& grad_sync() const { return grad_sync_; }
  Loss& loss() { return *loss_; }
  const Loss& loss() const { return *loss_; }

 private:
  struct Attempt;
  Attempt attempt(BatchSource& data, int k, int number);
  StepMetrics skip(const Attempt& first, const Attempt& again, const BatchSource& data);
  void average_metrics(StepMetrics& m, std::span<double> span_sums);
  const Config& c_;
  model::GptModel& model_;
  OptimizerSet& opt_;
  const ParallelState& ps_;
  Comm& dp_;
  std::vector<Parameter*> params_;
  std::unique_ptr<Loss> loss_;
  GradSync grad_sync_;
  std::vector<moe::MoeLayer*> moe_;
  std::int64_t iteration_ = 0, updates_ = 0, skipped_total_ = 0;
  int skipped_in_a_row_ = 0;
  std::int64_t rerun_transient_ = 0, skipped_nonfinite_ = 0, skipped_spiky_ = 0;
  SpikeReference spike_;
  FaultHook fault_hook_;
  std::vector<std::uint64_t> positions_;  // the last accumulate's micro-batches
  double local_loss_ = 0;                 // its loss on this rank, before the dp mean
  int attempt_number_ = 0;                // for the fault hook
};

// [plugins] loss built from the registry (an unknown name is refused, listing the loss plugins
// found).
std::unique_ptr<Loss> make_loss(const Config& c, const Registry& reg);

}  // namespace vpmoe::host::train
