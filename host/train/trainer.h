#pragma once
// One training step (spec/training.md §2): the micro-batches' forward/backward accumulated
// into the main grads (each loss, and the MoE aux losses, weighted 1 / micro-batches), their
// data-parallel mean (GradSync: buckets, started from the last backward), the global-norm clip, and
// then either the update (the MoE expert-bias update from the counts summed over the dp group, then
// every optimizer at its scheduled rate) or, for a non-finite grad norm, a skipped step. Too many
// skipped in a row stops the run with an error.
#include <cstdint>
#include <vector>

#include "model/gpt_model.h"
#include "moe/moe_layer.h"
#include "train/batch_source.h"
#include "train/grad_sync.h"
#include "train/optimizer_set.h"
#include "vpmoe/comm.h"
#include "vpmoe/error.h"
#include "vpmoe/parallel.h"

namespace vpmoe::host::train {

struct StepMetrics {
  std::int64_t iteration = 0;  // this step's index, skipped steps included
  double loss = 0;             // mean over micro-batches (and dp ranks) of the loss-masked mean
  double aux_loss = 0;         // the MoE aux losses, averaged the same way
  double grad_norm = 0;
  double lr = 0;  // the matrix group's (the first group's when there is none)
  bool skipped = false;
  std::int64_t tokens = 0;  // over all data-parallel ranks
  moe::LoadStats load;      // the most imbalanced MoE layer (largest cv) of the step
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
};

class Trainer {
 public:
  // ps: the run's process groups (single_process_state() for one process).
  Trainer(const Config& c, model::GptModel& m, OptimizerSet& opt, const ParallelState& ps);
  // Forward/backward of k micro-batches into the (zeroed) main grads, averaged over dp; loss
  // and aux in the metrics. The grads are left for the caller (step() goes on to the update).
  StepMetrics accumulate(BatchSource& data, int k);
  StepMetrics step(BatchSource& data, int k);
  std::int64_t iteration() const { return iteration_; }
  std::int64_t updates() const { return updates_; }
  int skipped_in_a_row() const { return skipped_in_a_row_; }
  std::int64_t skipped_total() const { return skipped_total_; }
  // Bytes the MoE layers' dispatchers have sent to other ranks since they were built.
  std::int64_t all_to_all_bytes() const;
  TrainerCounters counters() const;
  void set_counters(const TrainerCounters& c);
  // Loss-masked mean loss of k micro-batches without backward (validation).
  double evaluate(BatchSource& data, int k);
  const GradSync& grad_sync() const { return grad_sync_; }

 private:
  void average_metrics(StepMetrics& m);
  const Config& c_;
  model::GptModel& model_;
  OptimizerSet& opt_;
  const ParallelState& ps_;
  Comm& dp_;
  std::vector<Parameter*> params_;
  GradSync grad_sync_;
  std::vector<moe::MoeLayer*> moe_;
  std::int64_t iteration_ = 0, updates_ = 0, skipped_total_ = 0;
  int skipped_in_a_row_ = 0;
};

}  // namespace vpmoe::host::train
