#pragma once
// A whole training run from a validated configuration and the loaded plugins: the device, the
// model, the optimizers, the data (mock or an indexed blend, and a validation blend), resume,
// the step loop with its metrics, evaluations every [data] eval_interval steps, and checkpoints
// every [checkpoint] save_interval steps and at the end (also when the run stops on
// non-finite steps).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "train/rerun.h"
#include "vpmoe/comm.h"
#include "vpmoe/config.h"
#include "vpmoe/registry.h"

namespace vpmoe::host::train {

struct RunOptions {
  bool resume = false;  // continue from [checkpoint] load, else <checkpoint dir>/latest
  // The data-parallel group; null = MPI_COMM_WORLD under a multi-process launch, else one
  // process.
  std::shared_ptr<Comm> comm;
  // Tests only: faults injected into the steps (Trainer::set_fault_hook), and a call after
  // each step (its metrics written) with the steps done.
  FaultHook fault_hook;
  std::function<void(std::int64_t steps)> after_step;
};

struct RunResult {
  std::int64_t first_step = 0;       // iteration the run started from (> 0 after resume)
  std::vector<double> losses;        // one per step run
  std::vector<double> valid_losses;  // one per evaluation
  std::string checkpoint;            // the last one written ("" = none)
  std::string resumed_from;
};

RunResult train_run(const Config& c, const Registry& reg, const RunOptions& o = {});

// <run.dir>/checkpoints unless [checkpoint] dir is set.
std::string checkpoint_dir(const Config& c);

}  // namespace vpmoe::host::train
