// The step's re-run over MPI (mpirun -np 2 or 4), every rank with its own tokens: a fault on the
// last rank only (a NaN grad after the dp mean, which no other rank sees) re-runs the step on
// every rank, and the run keeps a clean run's bits on each, with ep 1 and ep = world; a sample
// whose loss is NaN on the last rank every time skips the step on every rank, and that rank's
// log names its own loss as the non-finite one.
#include <gtest/gtest.h>

#include <limits>

#include "host/train/tiny_model.h"
#include "train/model_builder.h"
#include "train/trainer.h"
#include "vpmoe/comm.h"
#include "vpmoe/ops.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

std::shared_ptr<Comm> world() {
  static std::shared_ptr<Comm> w = mpi_world_comm();
  return w;
}

struct RankRun {
  explicit RankRun(int ep)
      : c(tiny_config("aux_loss_coeff = 0.01\n",
                      "[train]\nmicro_batch_size = 2\nglobal_batch_size = " +
                          std::to_string(2 * world()->size()) +
                          "\nlr = 0.01\nmin_lr = 0.01\ntrain_iters = 4\n"
                          "max_consecutive_skipped = 2\n[parallel]\nddp_bucket_size = 500\n")),
        ps(make_parallel_state(world(), 1, ep)) {}
  Config c;
  Registry reg = in_tree_plugins();
  std::shared_ptr<ParallelState> ps;
  std::unique_ptr<model::GptModel> model =
      build_model(c, reg, ModelTarget{Device::cpu(), false, 5, ps});
  OptimizerSet opt{c, reg, model->parameters(), ps.get()};
  Trainer trainer{c, *model, opt, *ps, make_loss(c, reg)};

  std::vector<StepMetrics> train(int steps) {
    MockSource data(c.tokenizer.vocab_size, 2, 8, 9 + std::uint64_t(world()->rank()),
                    Device::cpu());
    std::vector<StepMetrics> out;
    for (int s = 0; s < steps; ++s) out.push_back(trainer.step(data, 1));
    return out;
  }
};

bool last_rank() {
  return world()->rank() == world()->size() - 1;
}

TEST(RerunMpi, AFaultOnOneRankReRunsEveryRankAndKeepsACleanRunsBits) {
  const int n = world()->size();
  for (int ep : {1, n}) {
    RankRun clean(ep), faulty(ep);
    const auto want = clean.train(3);
    faulty.trainer.set_fault_hook([](FaultPoint& f) {
      if (last_rank() && f.iteration == 1 && f.attempt == 0)
        ops::fill(f.params.front()->grad, std::numeric_limits<float>::quiet_NaN());
    });
    const auto got = faulty.train(3);
    const std::string where =
        " (rank " + std::to_string(world()->rank()) + ", ep " + std::to_string(ep) + ")";
    for (std::size_t s = 0; s < 3; ++s) {
      EXPECT_EQ(got[s].rerun, s == 1 ? Rerun::transient : Rerun::none) << s << where;
      EXPECT_EQ(got[s].loss, want[s].loss) << s << where;
      EXPECT_EQ(got[s].grad_norm, want[s].grad_norm) << s << where;
    }
    EXPECT_EQ(got[1].anomaly, Anomaly::nonfinite_grad_norm) << where;
    EXPECT_EQ(faulty.trainer.rerun_transient(), 1) << where;
    EXPECT_EQ(faulty.trainer.updates(), 3) << where;
    const auto a = clean.model->parameters(), b = faulty.model->parameters();
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_EQ(a[i]->value.to_floats(), b[i]->value.to_floats()) << a[i]->name << where;
    for (const auto& [k, t] : clean.model->state())
      EXPECT_EQ(t.to_floats(), faulty.model->state().at(k).to_floats()) << k << where;
  }
}

TEST(RerunMpi, ASampleBadEveryTimeOnOneRankSkipsTheStepOnEveryRank) {
  RankRun r(1);
  r.trainer.set_fault_hook([](FaultPoint& f) {
    if (last_rank() && f.positions.front() == 2) f.loss = std::numeric_limits<double>::quiet_NaN();
  });
  ::testing::internal::CaptureStderr();
  const auto got = r.train(4);
  const std::string log = ::testing::internal::GetCapturedStderr();
  for (std::size_t s = 0; s < 4; ++s) EXPECT_EQ(got[s].skipped, s == 2) << s;
  EXPECT_EQ(got[2].rerun, Rerun::skipped);
  EXPECT_EQ(r.trainer.skipped_nonfinite(), 1);
  EXPECT_EQ(r.trainer.updates(), 3);
  const std::string own = "This rank's own loss (before the mean over data-parallel ranks) ";
  EXPECT_NE(log.find("iteration 2: non-finite loss again when re-run"), std::string::npos) << log;
  EXPECT_NE(log.find(", its micro-batches: mock micro-batch 2 (seed " +
                     std::to_string(9 + world()->rank()) + ")"),
            std::string::npos)
      << log;
  // Only the last rank's own loss was bad; the others name theirs, finite.
  EXPECT_EQ(log.find(own + "nan, ") != std::string::npos, last_rank()) << log;
  // Every rank took the same steps: the weights agree.
  for (Parameter* p : r.model->parameters()) {
    const Tensor mine = p->value.clone().view({-1});
    const Tensor all = Tensor::empty({mine.numel() * world()->size()}, mine.dtype());
    world()->all_gather(mine, all);
    for (int k = 0; k < world()->size(); ++k)
      EXPECT_EQ(all.slice(k * mine.numel(), (k + 1) * mine.numel()).to_floats(), mine.to_floats())
          << p->name << " differs on rank " << k;
  }
}

}  // namespace
}  // namespace vpmoe::testing
