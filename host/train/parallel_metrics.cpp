#include "train/parallel_metrics.h"

#include <algorithm>
#include <set>
#include <vector>

namespace vpmoe::host::train {

ParallelStepStats gather_step_stats(const ParallelState& ps, double step_s,
                                    std::int64_t a2a_bytes) {
  double wait_s = 0;
  std::set<Comm*> seen;  // one process's groups are one object
  for (Comm* g : {ps.world.get(), ps.tp.get(), ps.dp.get(), ps.ep.get(), ps.expert_dp.get()})
    if (g && seen.insert(g).second) wait_s += g->take_wait_seconds();
  const int n = ps.layout.world, me = ps.layout.rank;
  // Slots per rank: its step time and its wait, summed (each slot has one writer).
  std::vector<double> per(std::size_t(2 * n), 0.0);
  per[std::size_t(2 * me)] = step_s, per[std::size_t(2 * me + 1)] = wait_s;
  std::int64_t bytes = a2a_bytes;
  if (n > 1) {
    ps.world->all_reduce_sum(per);
    ps.world->all_reduce_sum(std::span<std::int64_t>(&bytes, 1));
  }
  ParallelStepStats s;
  double share = 0;
  for (int r = 0; r < n; ++r) {
    const double t = per[std::size_t(2 * r)], w = per[std::size_t(2 * r + 1)];
    s.slowest_step_s = std::max(s.slowest_step_s, t);
    if (t > 0) share += std::min(w / t, 1.0);
  }
  s.comm_wait_share = share / n;
  s.all_to_all_bytes = bytes;
  return s;
}

}  // namespace vpmoe::host::train
