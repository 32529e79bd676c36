#pragma once
// The parts of the step's re-run (Megatron's --rerun-mode validate_results) that do not touch
// the model: what is wrong with an attempt, the ranks' agreement on it, the spiky-loss
// reference, and the test hook that injects faults. An attempt with a non-finite loss or grad
// norm (or, with [train] check_for_spiky_loss, a spiky loss) is run once more from the same
// state and data; the kernels are deterministic, so a clean re-run means a transient fault
// (its step is taken) and a bad one a data or model problem (the step is skipped).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vpmoe/comm.h"
#include "vpmoe/parameter.h"

namespace vpmoe::host::train {

// What is wrong with an attempt's result, in the order the checks run.
enum class Anomaly : std::uint8_t { none, nonfinite_loss, nonfinite_grad_norm, spiky_loss };
// "non-finite loss", "non-finite grad norm", "spiky loss" ("" for none).
const char* anomaly_text(Anomaly a);
// "nonfinite_loss", ... for the metrics ("" for none).
const char* anomaly_key(Anomaly a);

// How a step ended that needed a re-run.
enum class Rerun : std::uint8_t {
  none,       // the first attempt was taken
  transient,  // the re-run was clean: its step was taken
  skipped,    // the re-run was bad too: the step was skipped
};

// The first of the checks that fails: a non-finite loss, a non-finite grad norm, a spike.
Anomaly anomaly_of(double loss, double grad_norm, bool spike);

// The anomaly every rank acts on: the first kind (in the order above) any rank of world has,
// so that no rank re-runs or skips alone. One collective of three integers (none for a world
// that runs no collectives).
Anomaly agree(Anomaly mine, Comm& world);

// Bit for bit the same (a NaN equals a NaN): the re-run reproduced the attempt.
bool same_bits(double a, double b);

// Megatron's spiky-loss rule (is_unexpectedly_large, threshold 10): the largest loss of the
// first `samples` taken steps is the reference; after them a loss of `factor` times it or more
// is a spike. Non-finite losses are never spikes (they are checked on their own).
class SpikeReference {
 public:
  explicit SpikeReference(std::int64_t samples = 100, double factor = 10)
      : samples_(samples), factor_(factor) {}
  bool is_spike(double loss) const;
  void taken(double loss);  // the loss of a step taken
  std::int64_t seen() const { return seen_; }
  double reference() const { return max_; }
  double factor() const { return factor_; }
  // Checkpointed with the trainer's counters, so a resumed run keeps its reference.
  void restore(std::int64_t seen, double max) { seen_ = seen, max_ = max; }

 private:
  std::int64_t samples_;
  double factor_;
  std::int64_t seen_ = 0;
  double max_ = 0;
};

// Tests only: where a fault can be injected. Called after each attempt's forward/backward and
// gradient reduction, before the loss's mean over the dp ranks and the checks; may poison this
// rank's loss or any grad.
struct FaultPoint {
  std::int64_t iteration = 0;
  int attempt = 0;  // 0: the first, 1: the re-run
  // The data source's positions of the attempt's micro-batches (BatchSource::describe).
  const std::vector<std::uint64_t>& positions;
  double& loss;
  const std::vector<Parameter*>& params;
};
using FaultHook = std::function<void(FaultPoint&)>;

}  // namespace vpmoe::host::train
