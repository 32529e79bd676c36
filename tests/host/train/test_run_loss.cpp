// The loss plugins in the training run (train/run.h, CPU, fp32): loss.kd_weighted_ce's running
// mean saved in state.json and restored, so a resumed run reproduces the losses and weights bit
// for bit; loss.span_ce's loss_reasoning and loss_final in metrics.jsonl, its loss their
// weighted sum; the objective normalised over the global batch (one micro-batch of 4 or four of
// 1 give the same loss); [plugins] loss naming an unknown plugin, or a loss whose side data
// the datasets lack, refused by name.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "host/train/run_fixture.h"
#include "train/run.h"
#include "vpmoe/config.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe::testing {
namespace {

namespace fs = std::filesystem;
using namespace host::train;

// RunTest's data with span labels and teacher log-probabilities.
class LossRunTest : public RunTest {
 protected:
  void SetUp() override {
    RunTest::SetUp();
    add_span_and_teacher_logp();
  }

  std::vector<nlohmann::json> steps(const std::string& run) {
    std::vector<nlohmann::json> out;
    std::ifstream in(dir_ / run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      if (!j.contains("valid_loss")) out.push_back(j);
    }
    return out;
  }
};

const std::string kKd =
    "[plugins]\nloss = \"loss.kd_weighted_ce\"\n[loss]\nreasoning_weight = 0.7\n"
    "kd_temperature = 0.5\nkd_weight_min = 0.25\nkd_weight_max = 3\n";

TEST_F(LossRunTest, KdRunningMeanResumesBitForBit) {
  const RunResult straight = train_run(config("straight", 6, kKd), reg_);
  const RunResult first = train_run(config("split", 3, kKd), reg_);
  const auto state =
      nlohmann::json::parse(bytes(fs::path(first.checkpoint) / "state.json"))["loss"];
  EXPECT_EQ(state["name"], "loss.kd_weighted_ce");
  EXPECT_GT(state["state"]["teacher_logp_count"].get<double>(), 0);
  EXPECT_LT(state["state"]["teacher_logp_sum"].get<double>(), 0);
  RunOptions resume;
  resume.resume = true;
  const RunResult second = train_run(config("split", 6, kKd), reg_, resume);
  ASSERT_EQ(second.losses.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(first.losses[i], straight.losses[i]) << "step " << i + 1;
    EXPECT_EQ(second.losses[i], straight.losses[i + 3]) << "step " << i + 4;
  }
  EXPECT_EQ(bytes(dir_ / "straight/checkpoints/step_00000006/model.safetensors"),
            bytes(dir_ / "split/checkpoints/step_00000006/model.safetensors"));
  EXPECT_EQ(
      nlohmann::json::parse(bytes(dir_ / "straight/checkpoints/step_00000006/state.json"))["loss"],
      nlohmann::json::parse(bytes(dir_ / "split/checkpoints/step_00000006/state.json"))["loss"]);
}

// Without the saved running mean the resumed steps weigh their tokens differently: the state
// is what makes the resume exact.
TEST_F(LossRunTest, KdRunningMeanIsWhatTheResumeNeeds) {
  const RunResult straight = train_run(config("straight", 4, kKd), reg_);
  const RunResult first = train_run(config("split", 2, kKd), reg_);
  const fs::path state_file = fs::path(first.checkpoint) / "state.json";
  auto j = nlohmann::json::parse(bytes(state_file));
  j["loss"]["state"] = {{"teacher_logp_sum", 0.0}, {"teacher_logp_count", 0.0}};
  std::ofstream(state_file) << j.dump(2) << "\n";
  RunOptions resume;
  resume.resume = true;
  const RunResult second = train_run(config("split", 4, kKd), reg_, resume);
  ASSERT_EQ(second.losses.size(), 2u);
  EXPECT_NE(second.losses[0], straight.losses[2]);
}

TEST_F(LossRunTest, SpanCeLogsTheSpanLosses) {
  const RunResult r = train_run(
      config("span", 3, "[plugins]\nloss = \"loss.span_ce\"\n[loss]\nreasoning_weight = 0.5\n"),
      reg_);
  const auto lines = steps("span");
  ASSERT_EQ(lines.size(), 3u);
  for (const auto& j : lines) {
    ASSERT_TRUE(j.contains("loss_reasoning")) << j.dump();
    ASSERT_TRUE(j.contains("loss_final")) << j.dump();
    const double lr = j["loss_reasoning"], lf = j["loss_final"], loss = j["loss"];
    EXPECT_NEAR(loss, 0.5 * lr + lf, 1e-5 * loss);
  }
  // loss.ce on the same data logs them too (whenever the batches have span labels).
  train_run(config("ce", 1), reg_);
  const auto ce = steps("ce");
  ASSERT_EQ(ce.size(), 1u);
  EXPECT_TRUE(ce[0].contains("loss_reasoning") && ce[0].contains("loss_final")) << ce[0].dump();
}

TEST_F(RunTest, NoSpanLossesWithoutSpanLabels) {
  train_run(config("plain", 1), reg_);
  std::ifstream in(dir_ / "plain/metrics.jsonl");
  std::string line;
  std::getline(in, line);  // validation at step 0
  std::getline(in, line);
  const auto j = nlohmann::json::parse(line);
  ASSERT_TRUE(j.contains("loss")) << line;
  EXPECT_FALSE(j.contains("loss_reasoning") || j.contains("loss_final")) << line;
}

// Megatron-style normalisation: one micro-batch of 4 sequences or four of 1 (different mask
// counts each) give the same objective.
TEST_F(LossRunTest, TheObjectiveIsNormalisedOverTheGlobalBatch) {
  for (const std::string& loss : {"loss.ce", "loss.span_ce", "loss.kd_weighted_ce"}) {
    const std::string extra = "[plugins]\nloss = \"" + loss + "\"\n";
    micro_batch = 4, global_batch = 4;
    const RunResult one = train_run(config("one_" + loss, 2, extra), reg_);
    micro_batch = 1;
    const RunResult four = train_run(config("four_" + loss, 2, extra), reg_);
    ASSERT_EQ(one.losses.size(), 2u);
    ASSERT_EQ(four.losses.size(), 2u);
    // The first step's loss is of the same weights; the second follows updates whose MoE aux
    // losses (per micro-batch) differ a little.
    EXPECT_NEAR(four.losses[0], one.losses[0], 2e-6 * one.losses[0]) << loss;
    EXPECT_NEAR(four.losses[1], one.losses[1], 1e-3 * one.losses[1]) << loss;
  }
}

TEST_F(RunTest, AnUnknownLossIsRefusedByName) {
  try {
    train_run(config("bad", 1, "[plugins]\nloss = \"loss.nope\"\n"), reg_);
    FAIL() << "an unknown loss trained";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("[plugins].loss"), std::string::npos) << m;
    EXPECT_NE(m.find("loss.nope"), std::string::npos) << m;
    EXPECT_NE(m.find("loss.span_ce"), std::string::npos) << "lists the losses found: " << m;
    EXPECT_NE(m.find("bad.toml:"), std::string::npos) << "names the file: " << m;
  }
}

TEST_F(RunTest, ALossWhoseSideDataIsMissingIsRefused) {
  for (const char* loss : {"loss.span_ce", "loss.kd_weighted_ce"}) {
    try {
      train_run(config("nospan", 1, std::string("[plugins]\nloss = \"") + loss + "\"\n"), reg_);
      FAIL() << loss << " trained without span labels";
    } catch (const ConfigError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("[plugins].loss"), std::string::npos) << m;
      EXPECT_NE(m.find(std::string(loss) + " needs span labels"), std::string::npos) << m;
    }
  }
}

}  // namespace
}  // namespace vpmoe::testing
