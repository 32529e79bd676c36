#include "vpmoe/parallel.h"

#include "vpmoe/error.h"

namespace vpmoe {

ParallelLayout ParallelLayout::make(int world, int rank, int tp, int ep) {
  if (world < 1 || rank < 0 || rank >= world)
    throw Error("parallel layout: rank " + std::to_string(rank) + " of " + std::to_string(world));
  if (tp < 1 || ep < 1)
    throw Error("parallel layout: tp " + std::to_string(tp) + " and ep " + std::to_string(ep) +
                " must be at least 1");
  if (world % (tp * ep) != 0)
    throw Error("parallel layout: a world of " + std::to_string(world) +
                " processes is not a multiple of tp x ep = " + std::to_string(tp) + " x " +
                std::to_string(ep));
  ParallelLayout l;
  l.world = world, l.rank = rank, l.tp = tp, l.ep = ep;
  return l;
}

std::vector<int> ParallelLayout::tp_group() const {
  std::vector<int> g;
  for (int i = 0; i < tp; ++i) g.push_back(rank - tp_rank() + i);
  return g;
}

std::vector<int> ParallelLayout::dp_group() const {
  std::vector<int> g;
  for (int d = 0; d < dp(); ++d) g.push_back(d * tp + tp_rank());
  return g;
}

std::vector<int> ParallelLayout::ep_group() const {
  std::vector<int> g;
  for (int e = 0; e < ep; ++e) g.push_back((expert_dp_rank() * ep + e) * tp + tp_rank());
  return g;
}

std::vector<int> ParallelLayout::expert_dp_group() const {
  std::vector<int> g;
  for (int x = 0; x < expert_dp(); ++x) g.push_back((x * ep + ep_rank()) * tp + tp_rank());
  return g;
}

std::string ParallelLayout::describe(int experts) const {
  return "parallel: world " + std::to_string(world) + ", tp " + std::to_string(tp) + ", dp " +
         std::to_string(dp()) + ", ep " + std::to_string(ep) + " (expert dp " +
         std::to_string(expert_dp()) + "); experts per rank " +
         std::to_string(experts_per_rank(experts)) + " of " + std::to_string(experts);
}

std::shared_ptr<ParallelState> single_process_state() {
  auto s = std::make_shared<ParallelState>();
  std::shared_ptr<Comm> one = single_process_comm();
  s->world = s->tp = s->dp = s->ep = s->expert_dp = one;
  return s;
}

std::shared_ptr<ParallelState> make_parallel_state(std::shared_ptr<Comm> world, int tp, int ep) {
  auto s = std::make_shared<ParallelState>();
  s->layout = ParallelLayout::make(world->size(), world->rank(), tp, ep);
  const ParallelLayout& l = s->layout;
  s->world = world;
  // Colors name each group by what its members share; keys keep the group-rank order.
  s->tp = world->split(l.rank / tp, l.tp_rank(), "tp");
  s->dp = world->split(l.tp_rank(), l.dp_rank(), "dp");
  s->ep = world->split(l.expert_dp_rank() * tp + l.tp_rank(), l.ep_rank(), "ep");
  s->expert_dp = world->split(l.ep_rank() * tp + l.tp_rank(), l.expert_dp_rank(), "expert_dp");
  return s;
}

}  // namespace vpmoe
