#pragma once
// What a step cost across the ranks (issue 15, item 9): the slowest rank's step time, the share
// of the step the ranks spent waiting on communication (Comm::take_wait_seconds over every
// group: the host blocked in MPI, or the CUDA stream stalled on NCCL's results), and the
// all-to-all bytes the expert dispatchers sent. One small host all-reduce over the world.
#include <cstdint>

#include "vpmoe/parallel.h"

namespace vpmoe::host::train {

struct ParallelStepStats {
  double slowest_step_s = 0;
  double comm_wait_share = 0;         // mean over ranks of wait / step time
  std::int64_t all_to_all_bytes = 0;  // summed over ranks
};

// step_s and a2a_bytes: this rank's. Every rank of the world calls it after each step.
ParallelStepStats gather_step_stats(const ParallelState& ps, double step_s, std::int64_t a2a_bytes);

}  // namespace vpmoe::host::train
