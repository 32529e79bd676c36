// The training run (train/run.h) on the CPU, fp32: 2N steps straight and N steps, a checkpoint,
// --resume and N more give the same losses, validation losses and final weights bit for bit;
// checkpoints of another shape, seed or a broken `latest` are refused saying what differs;
// metrics.jsonl has a line per step and per evaluation. Also the safetensors round trip.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "host/train/run_fixture.h"
#include "train/checkpoint.h"
#include "train/run.h"
#include "train/safetensors.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe::testing {
namespace {

namespace fs = std::filesystem;
using namespace host::train;

TEST_F(RunTest, ResumeReproducesTheLossCurveBitForBit) {
  const RunResult straight = train_run(config("straight", 6), reg_);
  ASSERT_EQ(straight.losses.size(), 6u);
  ASSERT_EQ(straight.valid_losses.size(), 4u);  // at steps 0, 2, 4, 6

  const RunResult first = train_run(config("split", 3), reg_);
  ASSERT_EQ(first.checkpoint, (dir_ / "split/checkpoints/step_00000003").string());
  RunOptions resume;
  resume.resume = true;
  const RunResult second = train_run(config("split", 6), reg_, resume);
  EXPECT_EQ(second.resumed_from, first.checkpoint);
  EXPECT_EQ(second.first_step, 3);
  ASSERT_EQ(second.losses.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(first.losses[i], straight.losses[i]) << "step " << i + 1;
    EXPECT_EQ(second.losses[i], straight.losses[i + 3]) << "step " << i + 4;
  }
  // Validation at 0, 2 and the last step 3 in the first part; 4, 6 after the resume.
  ASSERT_EQ(first.valid_losses.size(), 3u);
  EXPECT_NE(first.valid_losses[2], first.valid_losses[1]) << "step 3 evaluated after training";
  ASSERT_EQ(second.valid_losses.size(), 2u);
  EXPECT_EQ(second.valid_losses[0], straight.valid_losses[2]);
  EXPECT_EQ(second.valid_losses[1], straight.valid_losses[3]);
  EXPECT_LT(straight.valid_losses.back(), straight.valid_losses.front());
  // The final weights (and the routers' expert biases in them) are the same bytes.
  EXPECT_EQ(bytes(dir_ / "straight/checkpoints/step_00000006/model.safetensors"),
            bytes(dir_ / "split/checkpoints/step_00000006/model.safetensors"));
  EXPECT_EQ(bytes(dir_ / "straight/checkpoints/step_00000006/optimizer_rank00000.safetensors"),
            bytes(dir_ / "split/checkpoints/step_00000006/optimizer_rank00000.safetensors"));
  EXPECT_EQ(bytes(dir_ / "split/checkpoints/latest"), "step_00000006\n");
}

TEST_F(RunTest, CheckpointHoldsStateConfigAndExpertBias) {
  const RunResult r = train_run(config("one", 3), reg_);
  const fs::path ck = r.checkpoint;
  for (const char* f :
       {"model.safetensors", "optimizer_rank00000.safetensors", "state.json", "run.toml"})
    EXPECT_TRUE(fs::exists(ck / f)) << f;
  EXPECT_FALSE(fs::exists(ck.string() + ".tmp"));
  const auto state = nlohmann::json::parse(bytes(ck / "state.json"));
  EXPECT_EQ(state["iteration"], 3);
  EXPECT_EQ(state["consumed_samples"], 12);
  EXPECT_EQ(state["data_position"], 6) << "3 steps of 2 micro-batches";
  EXPECT_EQ(state["tokenizer"]["name"], "tokenizer.o200k_harmony");
  EXPECT_EQ(state["tokenizer"]["vocab_size"], 201088);
  const auto weights = read_safetensors((ck / "model.safetensors").string());
  ASSERT_TRUE(weights.count("state/layers.2.ffn.router.expert_bias"));
  const auto beta = weights.at("state/layers.2.ffn.router.expert_bias").to_floats();
  EXPECT_EQ(beta.size(), 4u);
  bool moved = false;
  for (float b : beta) moved |= b != 0.f;
  // Each update moves an entry by +-rate (0 only when its count is exactly the mean), so three
  // of them cannot all cancel.
  EXPECT_TRUE(moved) << "three bias updates on unbalanced counts move the bias: " << beta[0] << " "
                     << beta[1] << " " << beta[2] << " " << beta[3];
  EXPECT_TRUE(weights.count("embedding.word_embeddings"));
}

TEST_F(RunTest, MetricsHaveALinePerStepAndEvaluation) {
  train_run(config("m", 4), reg_);
  std::ifstream in(dir_ / "m/metrics.jsonl");
  int steps = 0, evals = 0;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("valid_loss")) {
      ++evals;
      continue;
    }
    ++steps;
    EXPECT_EQ(j["step"], steps);
    for (const char* k : {"loss", "lr", "grad_norm", "tokens_per_s", "tflops", "skipped_total",
                          "moe_load_cv", "aux_loss"})
      EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_EQ(j["tokens"], 32);
    EXPECT_FALSE(j.contains("mfu")) << "no MFU on the CPU";
  }
  EXPECT_EQ(steps, 4);
  EXPECT_EQ(evals, 3);
}

TEST_F(RunTest, RefusesCheckpointsThatDoNotFit) {
  train_run(config("base", 1), reg_);
  const std::string ck = (dir_ / "base/checkpoints").string();
  auto refusal = [&](const Config& c) -> std::string {
    try {
      RunOptions o;
      o.resume = true;
      train_run(c, reg_, o);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  // Another shape: wider FFN.
  const std::string shape =
      refusal(config("base", 2, "",
                     "num_layers = 4\nhidden_size = 16\nnum_attention_heads = 4\n"
                     "num_query_groups = 2\nhead_dim = 4\nffn_hidden_size = 12\n"));
  EXPECT_NE(shape.find("does not fit this run"), std::string::npos) << shape;
  EXPECT_NE(shape.find("layers.1.ffn.w1: checkpoint [8,16], this model [12,16]"), std::string::npos)
      << shape;
  // Another seed: the sampler would not continue the same sequence.
  const std::string seed = refusal(config("base", 2, "seed = 99\n"));
  EXPECT_NE(seed.find("[run] seed: checkpoint 1234, this run 99"), std::string::npos) << seed;
  // Another tokenizer asset: the checkpoint's identity edited to a different sha256.
  {
    const fs::path sj = fs::path(resolve_checkpoint(ck)) / "state.json";
    auto j = nlohmann::json::parse(bytes(sj));
    const std::string real = j["tokenizer"]["asset_sha256"];
    j["tokenizer"]["asset_sha256"] = std::string(64, '0');
    std::ofstream(sj) << j.dump();
    const std::string tok = refusal(config("base", 2));
    EXPECT_NE(tok.find("tokenizer asset sha256: checkpoint " + std::string(64, '0') +
                       ", this run " + real),
              std::string::npos)
        << tok;
  }
  // A latest that names nothing.
  { std::ofstream(dir_ / "base/checkpoints/latest") << "step_00000077\n"; }
  const std::string latest = refusal(config("base", 2));
  EXPECT_NE(latest.find("names step_00000077"), std::string::npos) << latest;
  // Nothing to resume from.
  const std::string none = refusal(config("fresh", 2));
  EXPECT_NE(none.find("neither a checkpoint"), std::string::npos) << none;
  (void)ck;
}

TEST_F(RunTest, NonFiniteStepsInARowStopTheRunWithAFinalCheckpoint) {
  // The embedding and head leap to 1e30 in the first updates: the later losses overflow.
  train_extra = "decoupled_lr = 1e30\nmax_consecutive_skipped = 1\n";
  try {
    train_run(config("nan", 6), reg_);
    FAIL() << "the run should stop";
  } catch (const TrainingStopped& e) {
    EXPECT_NE(std::string(e.what()).find("2 steps in a row had a non-finite loss or grad norm"),
              std::string::npos)
        << e.what();
  }
  const auto state = nlohmann::json::parse(
      bytes(fs::path(resolve_checkpoint((dir_ / "nan/checkpoints").string())) / "state.json"));
  EXPECT_EQ(state["skipped_total"], 2);
  EXPECT_EQ(state["skipped_in_a_row"], 2);
  EXPECT_GE(state["updates"], 1);
  EXPECT_LT(state["iteration"], 6) << "stopped early";
  EXPECT_EQ(state["iteration"].get<int>(), state["updates"].get<int>() + 2);
}

TEST_F(RunTest, SafetensorsRoundTripAndBadFiles) {
  std::map<std::string, Tensor> t;
  t["a"] = Tensor::from_floats({1.5f, -2.f, 3.25f, 0.f, 7.f, 9.f}, {2, 3}, DType::f32);
  t["b/ids"] = Tensor::from_floats({4, 5}, {2}, DType::i32);
  t["c"] = Tensor::from_floats({0.5f}, {1}, DType::bf16);
  const std::string p = (dir_ / "x.safetensors").string();
  write_safetensors(p, t, {{"k", "v"}});
  std::map<std::string, std::string> meta;
  const auto back = read_safetensors(p, &meta);
  EXPECT_EQ(meta.at("k"), "v");
  ASSERT_EQ(back.size(), 3u);
  for (const auto& [k, v] : t) {
    EXPECT_EQ(back.at(k).shape(), v.shape()) << k;
    EXPECT_EQ(back.at(k).dtype(), v.dtype()) << k;
    EXPECT_EQ(back.at(k).to_floats(), v.to_floats()) << k;
  }
  const std::string header_len = bytes(p).substr(0, 8);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= std::uint64_t(static_cast<unsigned char>(header_len[std::size_t(i)])) << (8 * i);
  EXPECT_EQ(n % 8, 0u) << "data starts 8-byte aligned";
  // Truncated data.
  const std::string whole = bytes(p);
  {
    std::ofstream(dir_ / "cut.safetensors", std::ios::binary) << whole.substr(0, whole.size() - 4);
  }
  try {
    read_safetensors((dir_ / "cut.safetensors").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cut.safetensors: not a valid safetensors file"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(read_safetensors((dir_ / "missing.safetensors").string()), Error);
}

}  // namespace
}  // namespace vpmoe::testing
