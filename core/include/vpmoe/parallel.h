#pragma once
// The parallel state (spec/training.md §4): Megatron's rank order tp-ep-dp (tp fastest), with
// ep carved out of dp. For world N, tensor parallel T and expert parallel E:
//   dp = N / T                 dense parameters are replicated over dp and reduced over it;
//   expert dp = N / (T * E)    expert parameters are replicated over expert dp;
//   rank r: tp_rank = r % T, ep_rank = (r / T) % E, dp_rank = r / T,
//           expert_dp_rank = r / (T * E).
// The host builds one ParallelState at start-up and hands it down; plugins read it from
// BuildArgs (the experts build their shard of E / ep experts).
#include <memory>
#include <string>
#include <vector>

#include "vpmoe/comm.h"

namespace vpmoe {

struct ParallelLayout {
  int world = 1, rank = 0;
  int tp = 1, ep = 1;

  // Throws vpmoe::Error saying which size does not divide which.
  static ParallelLayout make(int world, int rank, int tp, int ep);
  int dp() const { return world / tp; }
  int expert_dp() const { return world / (tp * ep); }
  int tp_rank() const { return rank % tp; }
  int ep_rank() const { return (rank / tp) % ep; }
  int dp_rank() const { return rank / tp; }
  int expert_dp_rank() const { return rank / (tp * ep); }
  // The world ranks of this rank's groups, in group-rank order.
  std::vector<int> tp_group() const;
  std::vector<int> dp_group() const;
  std::vector<int> ep_group() const;
  std::vector<int> expert_dp_group() const;
  // The experts of this rank: [first_expert, first_expert + experts_per_rank) of experts.
  int experts_per_rank(int experts) const { return experts / ep; }
  int first_expert(int experts) const { return ep_rank() * experts_per_rank(experts); }
  // "parallel: world N, tp T, dp D, ep E (expert dp X); experts per rank K of M"
  std::string describe(int experts) const;
};

// The groups of one process. Every member is set (a group of one rank when not parallel).
struct ParallelState {
  ParallelLayout layout;
  std::shared_ptr<Comm> world, tp, dp, ep, expert_dp;
};

// One process: every group is the single-process comm.
std::shared_ptr<ParallelState> single_process_state();
// The groups of layout, split from world (every rank of world must call it).
std::shared_ptr<ParallelState> make_parallel_state(std::shared_ptr<Comm> world, int tp, int ep);

}  // namespace vpmoe
