// spec/training.md §7: dp = 2 with a global batch of 4 gives the updates of dp = 1 with the same
// global batch (fp32, CPU, over MPI). Both ranks train 3 steps with micro-batches of 2 (one
// each per step); rank 0 then trains the same 3 steps alone (two micro-batches per step). The
// losses, validation losses and final weights agree to float rounding (the sums are grouped
// differently); the dp run's checkpoint and metrics come from rank 0 only.
#include <gtest/gtest.h>

#include "core/ops_cuda/cuda_test_util.h"
#include "host/train/run_fixture.h"
#include "train/safetensors.h"
#include "vpmoe/comm.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

TEST_F(RunTest, TwoRanksGiveTheUpdatesOfOne) {
  RunOptions dp2;
  dp2.comm = mpi_world_comm();
  ASSERT_EQ(dp2.comm->size(), 2) << "run under mpirun -np 2";
  const int rank = dp2.comm->rank();
  const RunResult two = train_run(config("dp2", 3), reg_, dp2);
  EXPECT_EQ(fs::exists(dir_ / "dp2/checkpoints/latest"), rank == 0);
  EXPECT_EQ(fs::exists(dir_ / "dp2/metrics.jsonl"), rank == 0);
  if (rank != 0) return;

  RunOptions dp1;
  dp1.comm = single_process_comm();
  const RunResult one = train_run(config("dp1", 3), reg_, dp1);
  ASSERT_EQ(one.losses.size(), 3u);
  ASSERT_EQ(two.losses.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(two.losses[i], one.losses[i], 1e-5 * std::abs(one.losses[i])) << "step " << i + 1;
  ASSERT_EQ(two.valid_losses.size(), one.valid_losses.size());
  for (std::size_t i = 0; i < one.valid_losses.size(); ++i)
    EXPECT_NEAR(two.valid_losses[i], one.valid_losses[i], 1e-5 * one.valid_losses[i]);
  const auto w1 =
      read_safetensors((dir_ / "dp1/checkpoints/step_00000003/model.safetensors").string());
  const auto w2 =
      read_safetensors((dir_ / "dp2/checkpoints/step_00000003/model.safetensors").string());
  ASSERT_EQ(w1.size(), w2.size());
  for (const auto& [name, t] : w1) {
    ASSERT_TRUE(w2.count(name)) << name;
    EXPECT_LT(rel_err(w2.at(name), t), 1e-5) << name;
  }
}

}  // namespace
}  // namespace vpmoe::testing
