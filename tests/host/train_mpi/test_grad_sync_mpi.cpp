// Data-parallel grads and the distributed optimizer over MPI (mpirun -np 2 or 4), on
// hand-made parameters with every rank's grads different:
//   - GradSync's bucketed means (any bucket size, one smaller than every parameter included;
//     overlapped or not; ep 1 and ep = world) equal each parameter reduced on its own, dense
//     over dp and experts over expert dp, divided by dp; overlap on and off give the same bits;
//   - the clip's global norm with expert parallelism counts the dense grads once and every
//     rank's experts, and every rank gets the same bits;
//   - DistributedOptimizer (AdamW by elements, NorMuon by matrices, gathered in small rounds)
//     gives every rank the plain optimizer's weights bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <deque>

#include "host/train/tiny_model.h"
#include "train/distributed_optimizer.h"
#include "train/grad_clip.h"
#include "train/grad_sync.h"
#include "vpmoe/comm.h"
#include "vpmoe/ops.h"
#include "vpmoe/optimizer.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

std::shared_ptr<Comm> world() {
  static std::shared_ptr<Comm> w = mpi_world_comm();
  return w;
}

// Parameters over three backward stages: dense ones and expert stacks (Sharding::expert).
struct Params {
  std::deque<Parameter> ps;
  std::vector<std::vector<Parameter*>> stages;
  explicit Params(int rank) {
    auto add = [&](int stage, const char* n, ParamRole r, Shape s, bool expert = false) {
      ps.push_back(Parameter::make(n, std::move(s), r, Device::cpu()));
      Parameter& p = ps.back();
      p.sharding = expert ? Sharding::expert : Sharding::replicated;
      ops::init_normal(p.value, 0.f, 0.5f, parameter_seed(1, n));
      // Every rank's grads differ.
      ops::init_normal(p.grad, 0.f, 1.f, parameter_seed(std::uint64_t(17 + rank), n));
      if (stages.size() <= std::size_t(stage)) stages.resize(std::size_t(stage) + 1);
      stages[std::size_t(stage)].push_back(&p);
    };
    add(0, "output", ParamRole::output, {11, 8});
    add(0, "final_norm", ParamRole::norm, {8});
    add(1, "layers.2.w", ParamRole::matrix, {8, 6});
    add(1, "layers.2.experts.w1", ParamRole::expert_matrix, {4, 6, 8}, true);
    add(1, "layers.2.experts.b1", ParamRole::bias, {4, 6}, true);
    add(1, "layers.2.lambda", ParamRole::vector, {});
    add(2, "layers.1.w", ParamRole::matrix, {5, 8});
    add(2, "layers.1.experts.w1", ParamRole::expert_matrix, {4, 3, 8}, true);
    add(2, "embedding", ParamRole::embedding, {11, 8});
  }
  std::vector<Parameter*> list() {
    std::vector<Parameter*> l;
    for (Parameter& p : ps) l.push_back(&p);
    return l;
  }
  std::vector<std::vector<float>> grads() {
    std::vector<std::vector<float>> g;
    for (Parameter& p : ps) g.push_back(p.grad.to_floats());
    return g;
  }
};

// Each parameter on its own: summed over its group, divided by dp.
std::vector<std::vector<float>> one_by_one(const ParallelState& ps) {
  Params p(world()->rank());
  for (Parameter* q : p.list()) {
    Comm& c = q->sharding == Sharding::expert ? *ps.expert_dp : *ps.dp;
    Tensor g = q->grad.clone();
    c.all_reduce_sum(g);
    ops::scale(g, 1.f / float(ps.dp->size()), g);
    q->grad.copy_from(g);
  }
  return p.grads();
}

std::vector<std::vector<float>> bucketed(const ParallelState& ps, std::int64_t bucket,
                                         bool overlap) {
  Params p(world()->rank());
  GradSync sync(p.stages, ps, {bucket, overlap});
  sync.begin();
  for (int s = 0; s < int(p.stages.size()); ++s) sync.stage_done(s);
  sync.finish();
  return p.grads();
}

double rel_diff(const std::vector<std::vector<float>>& a,
                const std::vector<std::vector<float>>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < a[i].size(); ++j)
      num += std::pow(double(a[i][j]) - b[i][j], 2), den += double(b[i][j]) * b[i][j];
  return std::sqrt(num / den);
}

TEST(GradSyncMpi, BucketMeansEqualEachParameterReducedAlone) {
  const int n = world()->size();
  ASSERT_GE(n, 2) << "run under mpirun";
  for (int ep : {1, n}) {
    const auto ps = make_parallel_state(world(), 1, ep);
    const auto want = one_by_one(*ps);
    // Something was summed: the dense grads differ from this rank's own.
    EXPECT_NE(want[0], Params(world()->rank()).grads()[0]);
    for (std::int64_t bucket : {std::int64_t(3), std::int64_t(150), std::int64_t(1) << 20}) {
      const auto on = bucketed(*ps, bucket, true), off = bucketed(*ps, bucket, false);
      EXPECT_EQ(on, off) << "ep " << ep << ", bucket " << bucket << ": overlap changed bits";
      // Two ranks add a + b whatever the algorithm; more may group the sums differently.
      if (n == 2)
        EXPECT_EQ(on, want) << "ep " << ep << ", bucket " << bucket;
      else
        EXPECT_LT(rel_diff(on, want), 1e-6) << "ep " << ep << ", bucket " << bucket;
    }
  }
}

TEST(GradSyncMpi, ExpertParallelNormCountsDenseOnceAndEveryRanksExperts) {
  const int n = world()->size();
  const auto ps = make_parallel_state(world(), 1, n);  // every rank other experts
  Params p(world()->rank());
  GradSync sync(p.stages, *ps, {100, true});
  sync.begin();
  sync.finish();
  double dense = 0, expert = 0;
  for (Parameter* q : p.list())
    for (float g : q->grad.to_floats())
      (q->sharding == Sharding::expert ? expert : dense) += double(g) * g;
  std::vector<double> all(std::size_t(n), 0.0);
  all[std::size_t(world()->rank())] = expert;
  world()->all_reduce_sum(std::span<double>(all));
  double want = dense;
  for (double e : all) want += e;
  want = std::sqrt(want);
  const ClipResult r = clip_grad_norm(p.list(), 1.0, false, *ps->ep);
  EXPECT_NEAR(r.norm, want, 1e-6 * want);
  EXPECT_GT(want, std::sqrt(dense + expert) * (1 + 1e-4)) << "the other ranks' experts count";
  // The same bits, decision and factor everywhere.
  std::vector<double> norms(std::size_t(n), 0.0), scales(std::size_t(n), 0.0);
  norms[std::size_t(world()->rank())] = r.norm, scales[std::size_t(world()->rank())] = r.scale;
  world()->all_reduce_sum(std::span<double>(norms));
  world()->all_reduce_sum(std::span<double>(scales));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(norms[std::size_t(i)], r.norm) << "rank " << i;
    EXPECT_EQ(scales[std::size_t(i)], double(r.scale)) << "rank " << i;
  }
  EXPECT_TRUE(r.clipped);
}

// The weights every rank holds after `steps` steps, with grads equal on every rank (seeded
// by the step only: as after the data-parallel mean).
std::vector<std::vector<float>> optimized(const std::string& spec, bool distributed,
                                          const ParallelState& ps) {
  const Config c = tiny_config();
  const Registry reg = in_tree_plugins();
  Params p(0);
  std::vector<Parameter*> mine;
  for (Parameter* q : p.list())
    if ((optimizer_group(*q) == OptimizerGroup::matrix) == (spec == "optimizer.normuon"))
      mine.push_back(q);
  BuildArgs a;
  a.config = &c;
  a.device = Device::cpu();
  std::unique_ptr<Optimizer> opt = reg.create<Optimizer>(spec, a);
  if (distributed) opt = std::make_unique<DistributedOptimizer>(std::move(opt), ps, 7);
  opt->add_parameters(mine);
  for (int s = 0; s < 3; ++s) {
    for (Parameter* q : mine)
      ops::init_normal(q->grad, 0.f, 1.f, parameter_seed(std::uint64_t(50 + s), q->name));
    opt->step(OptimizerStep{s, 0.02, 0.1, 0.8f});
  }
  std::vector<std::vector<float>> w;
  for (Parameter* q : mine) w.push_back(q->value.to_floats());
  return w;
}

TEST(DistributedOptimizerMpi, EveryRankHoldsThePlainOptimizersWeights) {
  const int n = world()->size();
  for (int ep : {1, n}) {
    const auto ps = make_parallel_state(world(), 1, ep);
    for (const char* spec : {"optimizer.adamw", "optimizer.normuon"}) {
      const auto plain = optimized(spec, false, *single_process_state());
      const auto dist = optimized(spec, true, *ps);
      EXPECT_EQ(dist, plain) << spec << ", ep " << ep << ", rank " << world()->rank();
      // The weights moved (every piece was stepped by its owner and gathered).
      Params initial(0);
      std::size_t moved = 0;
      for (const Parameter& q : initial.ps)
        for (const auto& w : dist) moved += w == q.value.to_floats();
      EXPECT_EQ(moved, 0u) << spec << ": a parameter kept its initial weights";
    }
  }
}

}  // namespace
}  // namespace vpmoe::testing
