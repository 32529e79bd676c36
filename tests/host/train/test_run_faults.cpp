// The run (train/run.h) under faults, on the tiny CPU model and indexed data: a transient fault
// is re-run, counted in metrics.jsonl, on the console and in the checkpoint (a resume continues
// the counts), and the losses equal a clean run's bit for bit; batches bad every time are skipped
// with their samples in the log until max_consecutive_skipped stops the run; a dataset file changed
// between steps stops the run naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "host/train/run_fixture.h"
#include "train/checkpoint.h"
#include "train/run.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {
namespace {

namespace fs = std::filesystem;
using namespace host::train;

std::vector<nlohmann::json> step_lines(const fs::path& metrics) {
  std::vector<nlohmann::json> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("valid_loss")) out.push_back(std::move(j));
  }
  return out;
}

TEST_F(RunTest, ATransientFaultIsReRunCountedAndLeavesTheLossesOfACleanRun) {
  const RunResult clean = train_run(config("clean", 4), reg_);
  RunOptions o;
  o.fault_hook = [](FaultPoint& f) {
    if (f.iteration == 1 && f.attempt == 0)
      ops::fill(f.params.front()->grad, std::numeric_limits<float>::infinity());
  };
  ::testing::internal::CaptureStderr();
  const RunResult faulty = train_run(config("faulty", 4), reg_, o);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(faulty.losses, clean.losses);
  EXPECT_EQ(faulty.valid_losses, clean.valid_losses);
  EXPECT_EQ(bytes(dir_ / "faulty/checkpoints/step_00000004/model.safetensors"),
            bytes(dir_ / "clean/checkpoints/step_00000004/model.safetensors"));
  const auto lines = step_lines(dir_ / "faulty/metrics.jsonl");
  ASSERT_EQ(lines.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(lines[i]["rerun_transient"], i == 0 ? 0 : 1) << i;
    EXPECT_EQ(lines[i]["skipped_nonfinite"], 0) << i;
    EXPECT_EQ(lines[i].contains("rerun"), i == 1) << i;
  }
  EXPECT_EQ(lines[1]["rerun"], "transient");
  EXPECT_EQ(lines[1]["anomaly"], "nonfinite_grad_norm");
  EXPECT_FALSE(lines[1]["skipped"].get<bool>());
  EXPECT_NE(log.find("step 2/4 | loss"), std::string::npos) << log;
  EXPECT_NE(log.find("| skipped 0 | transient faults 1"), std::string::npos) << log;
  const auto state = nlohmann::json::parse(bytes(fs::path(faulty.checkpoint) / "state.json"));
  EXPECT_EQ(state["rerun_transient"], 1);
  EXPECT_EQ(state["skipped_total"], 0);
  EXPECT_EQ(state["spike_reference"]["steps"], 4);
  // A resumed run continues the counters and the spike reference.
  RunOptions resume;
  resume.resume = true;
  const RunResult more = train_run(config("faulty", 5), reg_, resume);
  EXPECT_EQ(step_lines(dir_ / "faulty/metrics.jsonl").back()["rerun_transient"], 1);
  const auto after =
      nlohmann::json::parse(bytes(fs::path(more.checkpoint) / "state.json"))["spike_reference"];
  EXPECT_EQ(after["steps"], 5);
  EXPECT_EQ(after["max_loss"], state["spike_reference"]["max_loss"]) << "the first steps' loss";
}

TEST_F(RunTest, BatchesBadEveryTimeAreSkippedWithTheirSamplesUntilTheRunStops) {
  train_extra = "max_consecutive_skipped = 1\n";
  RunOptions o;
  // Steps 3 and 4 (micro-batches 4 to 7 of two a step): their loss is NaN on every attempt.
  o.fault_hook = [](FaultPoint& f) {
    for (std::uint64_t p : f.positions)
      if (p >= 4 && p < 8) f.loss = std::numeric_limits<double>::quiet_NaN();
  };
  ::testing::internal::CaptureStderr();
  try {
    train_run(config("bad", 6), reg_, o);
    ADD_FAILURE() << "two skipped steps in a row should stop the run";
  } catch (const TrainingStopped& e) {
    EXPECT_NE(std::string(e.what()).find("training stopped at iteration 3: 2 steps in a row"),
              std::string::npos)
        << e.what();
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  const std::string train = (dir_ / "train").string();
  for (const std::string& needle :
       {std::string(
            "iteration 2: non-finite loss again when re-run from the same state and micro-batches "
            "(the same result: loss nan"),
        "This rank's own loss (before the mean over data-parallel ranks) nan, its micro-batches: "
        "micro-batch 4: blend sample 8: " +
            train + " sample 8 (stream tokens [",
        "| micro-batch 5: blend sample 10: " + train + " sample 10 (",
        "; blend sample 11: " + train + " sample 11 (",
        std::string("iteration 3: non-finite loss again"),
        std::string("the step is skipped (2 in a row, [train] max_consecutive_skipped = 1)")})
    EXPECT_NE(log.find(needle), std::string::npos) << needle << "\n" << log;
  const auto lines = step_lines(dir_ / "bad/metrics.jsonl");
  ASSERT_EQ(lines.size(), 3u) << "the stopping step has no line";
  EXPECT_EQ(lines[2]["rerun"], "skipped");
  EXPECT_EQ(lines[2]["anomaly"], "nonfinite_loss");
  EXPECT_TRUE(lines[2]["skipped"].get<bool>());
  EXPECT_EQ(lines[2]["skipped_nonfinite"], 1);
  const auto state = nlohmann::json::parse(
      bytes(fs::path(resolve_checkpoint((dir_ / "bad/checkpoints").string())) / "state.json"));
  EXPECT_EQ(state["skipped_nonfinite"], 2);
  EXPECT_EQ(state["skipped_total"], 2);
  EXPECT_EQ(state["rerun_transient"], 0);
  EXPECT_EQ(state["updates"], 2);
}

TEST_F(RunTest, ADatasetFileChangedBetweenStepsStopsTheRunNamingIt) {
  const fs::path bin = dir_ / "train_tokens.bin";
  const auto size = fs::file_size(bin);
  RunOptions o;
  std::int64_t last = 0;
  o.after_step = [&](std::int64_t steps) {
    last = steps;
    if (steps == 2) std::ofstream(bin, std::ios::binary | std::ios::app) << std::string(8, '\0');
  };
  try {
    train_run(config("changed", 6), reg_, o);
    ADD_FAILURE() << "the run read on after its data changed";
  } catch (const TrainingStopped& e) {
    ADD_FAILURE() << e.what();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("indexed dataset " + bin.string() +
                                         ": changed while the run reads it: its size changed "
                                         "from " +
                                         std::to_string(size) + " to " + std::to_string(size + 8) +
                                         " bytes"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(last, 2) << "no step after the change";
}

}  // namespace
}  // namespace vpmoe::testing
