// Expert and data parallelism of whole runs (issue 15's tests), fp32 on the CPU over MPI: ep 2,
// ep 4 and dp 2 x ep 2 each give the losses and final weights of one process within 1e-5
// relative; a checkpoint of ep 2 resumes in one process, and one of one process resumes as
// dp 2 with the distributed optimizer, both continuing the one-process losses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/ops_cuda/cuda_test_util.h"
#include "host/train_mpi/mpi_run_fixture.h"
#include "train/checkpoint_shards.h"
#include "train/safetensors.h"
#include "vpmoe/comm.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

std::shared_ptr<Comm> world() {
  return mpi_world();
}

// The whole model of a checkpoint step: the expert stacks gathered from the ep files.
TensorMap full_model(const fs::path& step) {
  std::ifstream in(step / "state.json");
  const auto j = nlohmann::json::parse(in);
  const int ep = j.contains("parallel") ? j["parallel"].value("ep", 1) : 1;
  TensorMap m = read_safetensors((step / "model.safetensors").string());
  if (ep == 1) return m;
  std::vector<TensorMap> pieces;
  for (int k = 0; k < ep; ++k)
    pieces.push_back(read_safetensors((step / experts_file("model", k)).string()));
  for (const auto& [name, t] : pieces[0])
    m[name] = gather_rows(
        0, t.size(0) * ep, ep, [&](int k) { return pieces[std::size_t(k)].at(name); }, name);
  return m;
}

class Parallel : public MpiRunTest {
 protected:
  // A run of `iters` steps with this layout; its checkpoints under shared_/name.
  RunResult run(const std::string& name, int iters, int ep, bool distributed, bool alone,
                const std::string& load = "") {
    // The same micro-batches in every layout (the loss is a mean per micro-batch): one process
    // runs the world's micro-batches one after another.
    micro_batch = 4 / world()->size();
    train_extra = "[parallel]\nexpert_model_parallel_size = " + std::to_string(ep) +
                  "\ndistributed_optimizer = " + (distributed ? "true" : "false") + "\n" +
                  checkpoint_section(name) + (load.empty() ? "" : "load = \"" + load + "\"\n");
    RunOptions o;
    o.comm = alone ? std::shared_ptr<Comm>(single_process_comm()) : world();
    return train_run(config(name, iters), reg_, o);
  }

  void expect_same(const RunResult& got, const RunResult& want, std::size_t from = 0) {
    ASSERT_EQ(got.losses.size() + from, want.losses.size());
    for (std::size_t i = 0; i < got.losses.size(); ++i)
      EXPECT_NEAR(got.losses[i], want.losses[i + from], 1e-5 * std::abs(want.losses[i + from]))
          << "step " << i + from + 1;
  }
  // The whole model within 1e-5 relative (the norm of the difference over the norm of the
  // weights), each tensor within 5e-5. The expert GEMMs of an ep run take the rows of every
  // rank's micro-batch at once, so sums run in another order, and NorMuon's orthogonalisation
  // of the small router matrices (4 x 16) magnifies that: up to 2e-5 after 3 steps, against
  // 6e-6 for dp 2 alone.
  void expect_same_weights(const std::string& got, const std::string& want, int step) {
    const std::string s = "step_0000000" + std::to_string(step);
    const TensorMap a = full_model(shared_ / got / s), b = full_model(shared_ / want / s);
    ASSERT_EQ(a.size(), b.size());
    double num = 0, den = 0;
    for (const auto& [name, t] : b) {
      ASSERT_TRUE(a.count(name)) << name;
      ASSERT_EQ(a.at(name).shape(), t.shape()) << name;
      EXPECT_LT(rel_err(a.at(name), t), 5e-5) << name;
      const std::vector<float> x = a.at(name).to_floats(), y = t.to_floats();
      for (std::size_t i = 0; i < x.size(); ++i)
        num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]), den += double(y[i]) * y[i];
    }
    EXPECT_LT(std::sqrt(num / den), 1e-5) << "the whole model";
  }
};

TEST_F(Parallel, ExpertParallelGivesTheUpdatesOfOneProcess) {
  const int R = world()->size();  // ep = world: the tiny model's 4 experts over 2 or 4 ranks
  const RunResult ep = run("ep", 3, R, false, false);
  if (world()->rank() != 0) return;
  const RunResult one = run("one", 3, 1, false, true);
  expect_same(ep, one);
  ASSERT_EQ(ep.valid_losses.size(), one.valid_losses.size());
  for (std::size_t i = 0; i < one.valid_losses.size(); ++i)
    EXPECT_NEAR(ep.valid_losses[i], one.valid_losses[i], 1e-5 * one.valid_losses[i]);
  expect_same_weights("ep", "one", 3);
  // The run's metrics: every GPU counted, the slowest rank, the wait share, the bytes moved.
  std::ifstream in(dir_ / "ep/metrics.jsonl");
  int steps = 0;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j.contains("gpus")) continue;
    ++steps;
    EXPECT_EQ(j["gpus"], R);
    EXPECT_GE(j["slowest_step_s"].get<double>(), j["step_s"].get<double>());
    EXPECT_GE(j["comm_wait_share"].get<double>(), 0.0);
    EXPECT_LE(j["comm_wait_share"].get<double>(), 1.0);
    EXPECT_GT(j["all_to_all_bytes"].get<std::int64_t>(), 0);
    EXPECT_DOUBLE_EQ(j["tokens_per_s_per_gpu"].get<double>() * R, j["tokens_per_s"].get<double>());
    EXPECT_NEAR(j["tflops_total"].get<double>(), j["tflops"].get<double>() * R,
                1e-9 * j["tflops_total"].get<double>());
  }
  EXPECT_EQ(steps, 3);
}

TEST_F(Parallel, DataTimesExpertParallelGivesTheUpdatesOfOneProcess) {
  if (world()->size() != 4) GTEST_SKIP() << "dp 2 x ep 2 needs 4 ranks";
  const RunResult both = run("dp2ep2", 3, 2, true, false);
  if (world()->rank() != 0) return;
  const RunResult one = run("one", 3, 1, false, true);
  expect_same(both, one);
  expect_same_weights("dp2ep2", "one", 3);
}

// Resume with the same layout (ep 2 with the distributed optimizer; dp 2 x ep 2 at 4 ranks)
// continues bit for bit: every rank reads back its own experts and optimizer pieces.
TEST_F(Parallel, SameLayoutResumesBitForBit) {
  run("split", 3, 2, true, false);
  const RunResult resumed =
      run("split", 5, 2, true, false, (shared_ / "split/step_00000003").string());
  const RunResult straight = run("straight", 5, 2, true, false);
  if (world()->rank() != 0) return;
  ASSERT_EQ(resumed.losses.size(), 2u);
  EXPECT_EQ(resumed.losses[0], straight.losses[3]);
  EXPECT_EQ(resumed.losses[1], straight.losses[4]);
  for (const std::string f :
       {"model.safetensors", "model_ep000.safetensors", "model_ep001.safetensors",
        "optimizer_rank00000.safetensors", "optimizer_rank00001.safetensors"})
    EXPECT_EQ(bytes(shared_ / "split/step_00000005" / f),
              bytes(shared_ / "straight/step_00000005" / f))
        << f;
}

TEST_F(Parallel, ExpertParallelCheckpointResumesInOneProcess) {
  if (world()->size() != 2) GTEST_SKIP() << "ep 2 into ep 1 runs at 2 ranks";
  run("ep2", 3, 2, false, false);
  if (world()->rank() != 0) return;
  const RunResult resumed =
      run("resumed", 5, 1, false, true, (shared_ / "ep2/step_00000003").string());
  EXPECT_EQ(resumed.first_step, 3);
  const RunResult straight = run("straight", 5, 1, false, true);
  expect_same(resumed, straight, 3);
}

TEST_F(Parallel, OneProcessCheckpointResumesDataParallel) {
  if (world()->size() != 2) GTEST_SKIP() << "dp 1 into dp 2 runs at 2 ranks";
  if (world()->rank() == 0) run("dp1", 3, 1, true, true);
  world()->barrier();
  const RunResult resumed =
      run("resumed", 5, 1, true, false, (shared_ / "dp1/step_00000003").string());
  if (world()->rank() != 0) return;
  EXPECT_EQ(resumed.first_step, 3);
  const RunResult straight = run("straight", 5, 1, false, true);
  expect_same(resumed, straight, 3);
}

}  // namespace
}  // namespace vpmoe::testing
