// spec/training.md §7: dp ranks sharing a global batch give the updates of one rank with the
// same global batch (fp32, CPU, over MPI): the dp ranks train 3 steps, each with its share of
// the micro-batches; rank 0 then trains the same 3 steps alone with the plain optimizer. The
// losses, validation losses and final weights agree to float rounding (the sums are grouped
// differently), with the plain optimizer and with the distributed one (ZeRO-1, small gradient
// buckets, overlapped or not); the dp run's checkpoint and metrics come from rank 0 only. Every
// rank ends with the same weights and the same expert biases. state.json lists every rank's
// files; the ranks share out their verification, and all refuse a damaged one that another rank
// checked. With loss.kd_weighted_ce and loss.span_ce on span-labelled data the same holds,
// and the running mean in state.json is the same. Tests named *FourRanks* run
// under mpirun -np 4, the rest under -np 2 (the TrainMpi suite under both).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/ops_cuda/cuda_test_util.h"
#include "data/file_hash.h"
#include "host/train_mpi/mpi_run_fixture.h"
#include "train/checkpoint_integrity.h"
#include "train/model_builder.h"
#include "train/safetensors.h"
#include "train/trainer.h"
#include "vpmoe/comm.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

// Flips one byte in the middle of path.
void flip_byte(const fs::path& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  const auto at = std::streamoff(fs::file_size(path) / 2);
  f.seekg(at);
  const char c = char(f.get());
  f.seekp(at);
  f.put(char(c ^ 0x01));
}

// state.json lists exactly the step's files with their digests; the ranks verify them together
// and, with a byte flipped in the file rank 1 checks, every rank refuses naming it.
void expect_integrity(Comm& world, const fs::path& step) {
  const auto listed = listed_files(read_checkpoint_state(step.string()), step.string());
  ASSERT_TRUE(listed.has_value());
  if (world.rank() == 0) {
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(step)) {
      const std::string name = e.path().filename().string();
      if (name == "state.json") continue;
      ++files;
      ASSERT_TRUE(listed->count(name)) << name << " is not listed";
      EXPECT_EQ(listed->at(name).sha256, host::data::hash_file(e.path().string()).sha256) << name;
    }
    EXPECT_EQ(files, listed->size());
  }
  EXPECT_NO_THROW(verify_files(step.string(), *listed, world));
  const fs::path victim = step / std::next(listed->begin())->first;  // checked by rank 1
  world.barrier();
  if (world.rank() == 0) flip_byte(victim);
  world.barrier();
  try {
    verify_files(step.string(), *listed, world);
    ADD_FAILURE() << "rank " << world.rank() << " accepted a damaged " << victim;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(victim.string() + ": damaged; expected "),
              std::string::npos)
        << "rank " << world.rank() << ": " << e.what();
  }
  world.barrier();
  if (world.rank() == 0) flip_byte(victim);  // back as it was
  world.barrier();
}

class DataParallelRun : public MpiRunTest {
 protected:
  // All ranks train with the [parallel] section `parallel`, then rank 0 alone.
  void expect_updates_of_one(int ranks, const std::string& parallel) {
    RunOptions dp;
    dp.comm = mpi_world_comm();
    ASSERT_EQ(dp.comm->size(), ranks) << "run under mpirun -np " << ranks;
    const int rank = dp.comm->rank();
    const RunResult many =
        train_run(config("dp", 3, parallel + checkpoint_section("dp") + loss_), reg_, dp);
    EXPECT_TRUE(fs::exists(shared_ / "dp/latest"));
    expect_integrity(*dp.comm, shared_ / "dp/step_00000003");
    EXPECT_EQ(fs::exists(dir_ / "dp/metrics.jsonl"), rank == 0);
    if (rank != 0) return;

    RunOptions single;
    single.comm = single_process_comm();
    const RunResult one = train_run(config("dp1", 3, loss_), reg_, single);
    ASSERT_EQ(one.losses.size(), 3u);
    ASSERT_EQ(many.losses.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i)
      EXPECT_NEAR(many.losses[i], one.losses[i], 1e-5 * std::abs(one.losses[i]))
          << "step " << i + 1;
    ASSERT_EQ(many.valid_losses.size(), one.valid_losses.size());
    for (std::size_t i = 0; i < one.valid_losses.size(); ++i)
      EXPECT_NEAR(many.valid_losses[i], one.valid_losses[i], 1e-5 * one.valid_losses[i]);
    const auto w1 =
        read_safetensors((dir_ / "dp1/checkpoints/step_00000003/model.safetensors").string());
    const auto w2 = read_safetensors((shared_ / "dp/step_00000003/model.safetensors").string());
    ASSERT_EQ(w1.size(), w2.size());
    for (const auto& [name, t] : w1) {
      ASSERT_TRUE(w2.count(name)) << name;
      EXPECT_LT(rel_err(w2.at(name), t), 1e-5) << name;
    }
    // The loss plugin's state (a running mean's sums of float16 values: exact in double).
    const auto s1 =
        nlohmann::json::parse(bytes(dir_ / "dp1/checkpoints/step_00000003/state.json"))["loss"];
    const auto s2 = nlohmann::json::parse(bytes(shared_ / "dp/step_00000003/state.json"))["loss"];
    EXPECT_EQ(s1, s2);
  }
  std::string loss_;  // [plugins] loss and [loss], for both runs
};

TEST_F(DataParallelRun, TwoRanksGiveTheUpdatesOfOne) {
  expect_updates_of_one(2, "");
}

TEST_F(DataParallelRun, TwoRanksWithTheDistributedOptimizerGiveTheUpdatesOfOne) {
  expect_updates_of_one(2, "[parallel]\ndistributed_optimizer = true\nddp_bucket_size = 100000\n");
}

TEST_F(DataParallelRun, TwoRanksWithoutOverlapGiveTheUpdatesOfOne) {
  expect_updates_of_one(2,
                        "[parallel]\ndistributed_optimizer = true\noverlap_grad_reduce = false\n");
}

// The loss plugins' totals are summed over dp before the weights: the global-batch objective.
TEST_F(DataParallelRun, TwoRanksGiveTheUpdatesOfOneWithTheKdWeightedLoss) {
  add_span_and_teacher_logp();
  loss_ = "[plugins]\nloss = \"loss.kd_weighted_ce\"\n[loss]\nreasoning_weight = 0.5\n";
  expect_updates_of_one(2, "");
}

TEST_F(DataParallelRun, TwoRanksGiveTheUpdatesOfOneWithTheSpanLoss) {
  add_span_and_teacher_logp();
  loss_ = "[plugins]\nloss = \"loss.span_ce\"\n[loss]\nfinal_weight = 2\n";
  expect_updates_of_one(2, "[parallel]\ndistributed_optimizer = true\n");
}

TEST_F(DataParallelRun, FourRanksWithTheDistributedOptimizerGiveTheUpdatesOfOne) {
  micro_batch = 1;  // a global batch of 4: one micro-batch per rank, four for one process
  expect_updates_of_one(4, "[parallel]\ndistributed_optimizer = true\nddp_bucket_size = 100000\n");
}

// Every rank's copy of t equals this rank's, bit for bit.
void expect_same_on_every_rank(Comm& world, const Tensor& t, const std::string& what) {
  const Tensor mine = t.clone().view({-1});
  const Tensor all = Tensor::empty({mine.numel() * world.size()}, mine.dtype());
  world.all_gather(mine, all);
  const std::vector<float> own = mine.to_floats();
  for (int r = 0; r < world.size(); ++r)
    EXPECT_EQ(all.slice(r * mine.numel(), (r + 1) * mine.numel()).to_floats(), own)
        << what << " differs on rank " << r;
}

TEST(TrainMpi, ReplicasAndExpertBiasesAgreeOnEveryRank) {
  std::shared_ptr<Comm> world = mpi_world_comm();
  const int n = world->size();
  // ep 1, and ep = world: then the experts differ by rank and only the replicas are compared.
  for (const auto& [distributed, ep] : {std::pair{false, 1}, {true, 1}, {false, n}, {true, n}}) {
    const Config c = tiny_config(
        "aux_loss_coeff = 0.01\nrouter_bias_update_rate = 0.01\n",
        "[train]\nmicro_batch_size = 2\nglobal_batch_size = " + std::to_string(2 * n) +
            "\nlr = 0.01\nmin_lr = 0.01\ntrain_iters = 3\n[parallel]\ndistributed_optimizer = " +
            (distributed ? "true" : "false") + "\nddp_bucket_size = 500\n");
    const Registry reg = in_tree_plugins();
    const auto ps = make_parallel_state(world, 1, ep);
    auto model = build_model(c, reg, ModelTarget{Device::cpu(), false, 5, ps});
    OptimizerSet opt(c, reg, model->parameters(), ps.get());
    Trainer trainer(c, *model, opt, *ps, make_loss(c, reg));
    // Every rank its own tokens.
    MockSource data(c.tokenizer.vocab_size, 2, 8, 9 + std::uint64_t(world->rank()), Device::cpu());
    const auto before = model->state();
    std::map<std::string, std::vector<float>> initial;
    for (const auto& [k, t] : before) initial[k] = t.to_floats();
    for (int s = 0; s < 3; ++s) EXPECT_FALSE(trainer.step(data, 1).skipped);
    const std::string mode = std::string(distributed ? " (distributed optimizer" : " (") + ", ep " +
                             std::to_string(ep) + ")";
    for (Parameter* p : model->parameters())
      if (ep == 1 || p->sharding != Sharding::expert)
        expect_same_on_every_rank(*world, p->value, p->name + mode);
    int biases = 0;
    for (const auto& [k, t] : model->state()) {
      expect_same_on_every_rank(*world, t, k + mode);
      if (k.find("expert_bias") == std::string::npos) continue;
      ++biases;
      EXPECT_NE(t.to_floats(), initial.at(k)) << k << " was never updated";
    }
    EXPECT_GT(biases, 0) << "the tiny model has MoE layers with an expert bias";
  }
}

}  // namespace
}  // namespace vpmoe::testing
