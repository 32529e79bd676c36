// [train] recompute = "full" under mpirun -np 2 with expert parallelism (ep 2, dp 2): the
// recomputed MoE forwards redo their all-to-all inside the backward, between the overlapped
// gradient buckets' reductions, and every rank's grads, metrics, expert biases and weights
// equal those of "none" bit for bit over 3 steps of 2 micro-batches, with the plain and the
// distributed optimizer.
#include <gtest/gtest.h>

#include <cstring>

#include "host/train/tiny_model.h"
#include "train/batch_source.h"
#include "train/model_builder.h"
#include "train/rerun.h"
#include "train/trainer.h"
#include "vpmoe/comm.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.nbytes() != b.nbytes()) return false;
  const Tensor x = a.to(Device::cpu()), y = b.to(Device::cpu());
  return std::memcmp(x.data(), y.data(), x.nbytes()) == 0;
}

struct EpRun {
  EpRun(std::shared_ptr<ParallelState> state, bool distributed, const std::string& mode, int rank)
      : ps(std::move(state)),
        c(tiny_config("aux_loss_coeff = 0.01\nrouter_bias_update_rate = 0.01\n",
                      "[train]\nmicro_batch_size = 2\nglobal_batch_size = 8\nlr = 0.01\n"
                      "min_lr = 0.01\ntrain_iters = 3\nrecompute = \"" +
                          mode +
                          "\"\n[parallel]\nexpert_model_parallel_size = 2\n"
                          "ddp_bucket_size = 500\ndistributed_optimizer = " +
                          (distributed ? "true" : "false") + "\n")),
        data(c.tokenizer.vocab_size, 2, 8, 9 + std::uint64_t(rank), Device::cpu()) {}
  std::shared_ptr<ParallelState> ps;
  Config c;
  Registry reg = in_tree_plugins();
  std::unique_ptr<model::GptModel> model =
      build_model(c, reg, ModelTarget{Device::cpu(), false, 5, ps});
  OptimizerSet opt{c, reg, model->parameters(), ps.get()};
  Trainer trainer{c, *model, opt, *ps, make_loss(c, reg)};
  MockSource data;
};

TEST(RecomputeExpertParallel, FullGivesTheStepsOfNoneBitForBit) {
  std::shared_ptr<Comm> world = mpi_world_comm();
  ASSERT_EQ(world->size(), 2) << "run under mpirun -np 2 (ctest does)";
  const int rank = world->rank();
  const auto ps = make_parallel_state(world, 1, 2);
  ASSERT_EQ(ps->layout.ep, 2);
  ASSERT_EQ(ps->layout.dp(), 2);
  for (const bool distributed : {false, true}) {
    EpRun none(ps, distributed, "none", rank), full(ps, distributed, "full", rank);
    ASSERT_TRUE(full.trainer.grad_sync().overlap()) << "the backward hooks are armed";
    for (int s = 0; s < 3; ++s) {
      const std::string what = std::string(distributed ? "distributed" : "plain") + ", rank " +
                               std::to_string(rank) + ", step " + std::to_string(s);
      const StepMetrics want = none.trainer.step(none.data, 2);
      const StepMetrics got = full.trainer.step(full.data, 2);
      EXPECT_FALSE(got.skipped) << what;
      EXPECT_TRUE(same_bits(got.loss, want.loss)) << what;
      EXPECT_TRUE(same_bits(got.aux_loss, want.aux_loss)) << what;
      EXPECT_TRUE(same_bits(got.grad_norm, want.grad_norm)) << what;
      EXPECT_EQ(got.load.max, want.load.max) << what;
      EXPECT_EQ(got.load.min, want.load.min) << what;
      const auto pw = none.model->parameters(), pg = full.model->parameters();
      ASSERT_EQ(pw.size(), pg.size());
      for (std::size_t i = 0; i < pw.size(); ++i) {
        EXPECT_TRUE(same_bytes(pg[i]->grad, pw[i]->grad)) << what << ": " << pw[i]->name;
        EXPECT_TRUE(same_bytes(pg[i]->value, pw[i]->value)) << what << ": " << pw[i]->name;
      }
      const auto sw = none.model->state(), sg = full.model->state();
      ASSERT_EQ(sw.size(), sg.size());
      for (const auto& [k, t] : sw) EXPECT_TRUE(same_bytes(sg.at(k), t)) << what << ": " << k;
    }
    // The recomputed forwards' all-to-alls travel again.
    EXPECT_GT(full.trainer.all_to_all_bytes(), none.trainer.all_to_all_bytes());
  }
}

}  // namespace
}  // namespace vpmoe::testing
