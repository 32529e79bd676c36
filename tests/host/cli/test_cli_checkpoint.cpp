// vpmoe-host checkpoint verify|inspect DIR on a checkpoint the binary trained (the tiny test
// model on mock data, 2 steps, once for the suite): verify exits 0 with one OK line, 1 naming
// each damaged or missing file with both digests, 1 for a checkpoint without digests; inspect
// prints the step, layout, tokenizer, parameter count and file sizes; usage errors exit 2. A
// full disk (VPMOE_FAIL_NTH_WRITE) keeps the previous checkpoint.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/file_hash.h"
#include "host/cli/host_cli_fixture.h"

namespace vpmoe::testing {
namespace {

// The tiny model of the trainer tests at the tokenizer's vocabulary, on mock data.
std::string run_toml(const fs::path& run_dir) {
  return "[run]\ndevice = \"cpu\"\ndir = \"" + run_dir.string() +
         "\"\n[tokenizer]\nvocab_size = 201088\n"
         "[model]\nnum_layers = 4\nhidden_size = 16\nnum_attention_heads = 4\n"
         "num_query_groups = 2\nhead_dim = 4\nffn_hidden_size = 8\n"
         "[attention]\nwindow_size = 4\nwindow_attn_skip_freq = 4\nmax_sequence_length = 8\n"
         "[tpa]\ntpa_rank = 2\ntpa_q_rank = 4\n"
         "[moe]\nnum_experts = 4\ntopk = 2\nshared_expert_size = 8\nrouter_num_groups = 2\n"
         "router_group_topk = 1\n[data]\nsource = \"mock\"\n"
         "[train]\nmicro_batch_size = 2\nglobal_batch_size = 2\ntrain_iters = 2\n"
         "[log]\nprogress = false\n";
}

class HostCliCheckpoint : public HostCli {
 protected:
  static void SetUpTestSuite() {
    suite_ = fs::temp_directory_path() / ("vpmoe_cli_checkpoint_" + std::to_string(::getpid()));
    fs::remove_all(suite_);
    fs::create_directories(suite_);
    std::ofstream(suite_ / "run.toml") << run_toml(suite_ / "run");
    train_ = run_in(suite_, "--config '" + (suite_ / "run.toml").string() + "'");
  }
  static void TearDownTestSuite() { fs::remove_all(suite_); }
  void SetUp() override {
    HostCli::SetUp();
    ASSERT_EQ(train_.rc, 0) << train_.err;
  }
  // The trained checkpoints directory, or a copy of it in the test's own directory to damage.
  static fs::path checkpoints() { return suite_ / "run/checkpoints"; }
  fs::path copy() {
    fs::copy(checkpoints(), dir_ / "checkpoints", fs::copy_options::recursive);
    return dir_ / "checkpoints";
  }

  static inline fs::path suite_;
  static inline Result train_;
};

TEST_F(HostCliCheckpoint, VerifyExits0WithOneOkLine) {
  const fs::path step = checkpoints() / "step_00000002";
  std::uint64_t bytes = 0;
  for (const char* f : {"model.safetensors", "optimizer_rank00000.safetensors", "run.toml"})
    bytes += fs::file_size(step / f);
  for (const fs::path& dir : {checkpoints(), step}) {  // `latest` followed, or the step itself
    const Result r = run("checkpoint verify '" + dir.string() + "'");
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, "OK " + step.string() + ": step 2, 3 files, " + std::to_string(bytes) +
                         " bytes match state.json\n");
  }
}

TEST_F(HostCliCheckpoint, VerifyExits1NamingTheDamagedFileAndBothDigests) {
  const fs::path step = copy() / "step_00000002", model = step / "model.safetensors";
  const auto want = host::data::hash_file(model.string());
  {
    std::fstream f(model, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(std::streamoff(want.bytes / 2));
    const char c = char(f.get());
    f.seekp(std::streamoff(want.bytes / 2));
    f.put(char(c ^ 0x01));
  }
  const auto got = host::data::hash_file(model.string());
  ASSERT_NE(got.sha256, want.sha256);
  fs::remove(step / "run.toml");
  const Result r = run("checkpoint verify '" + step.string() + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out, "");
  const std::string n = std::to_string(want.bytes);
  EXPECT_NE(
      r.err.find(model.string() + ": damaged; expected " + n + " bytes with sha256 " + want.sha256 +
                 " (state.json), found " + n + " bytes with sha256 " + got.sha256),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find((step / "run.toml").string() + ": missing; expected "), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("optimizer_rank00000"), std::string::npos) << "intact: " << r.err;
}

TEST_F(HostCliCheckpoint, VerifyWarnsOfUnlistedFilesAndRefusesOlderCheckpoints) {
  const fs::path step = copy() / "step_00000002";
  std::ofstream(step / "notes.txt") << "hand-written\n";
  const Result extra = run("checkpoint verify '" + step.string() + "'");
  EXPECT_EQ(extra.rc, 0) << extra.err;
  EXPECT_NE(extra.err.find("notes.txt is not listed in state.json: not verified, and a load does "
                           "not read it"),
            std::string::npos)
      << extra.err;
  // A checkpoint from before the digests: nothing to verify against.
  auto j = nlohmann::json::parse(slurp(step / "state.json"));
  j.erase("files");
  std::ofstream(step / "state.json") << j.dump(2);
  const Result old = run("checkpoint verify '" + step.string() + "'");
  EXPECT_EQ(old.rc, 1);
  EXPECT_NE(old.err.find("checkpoint " + step.string() +
                         ": state.json lists no file digests (written before they were "
                         "recorded); it cannot be verified"),
            std::string::npos)
      << old.err;
}

TEST_F(HostCliCheckpoint, InspectPrintsStepLayoutTokenizerParametersAndFiles) {
  const fs::path step = checkpoints() / "step_00000002";
  const Result r = run("checkpoint inspect '" + checkpoints().string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(step / "state.json"));
  std::uint64_t params = 0;
  for (const auto& [name, shape] : j["parameters"].items()) {
    std::uint64_t n = 1;
    for (const auto& d : shape) n *= d.get<std::uint64_t>();
    params += n;
  }
  EXPECT_GT(params, 2u * 201088 * 16) << "the embedding and the output layer at least";
  const std::string sha = j["tokenizer"]["asset_sha256"];
  for (const std::string line :
       {"checkpoint: " + step.string() + "\n", std::string("step: 2 (updates 2, skipped 0"),
        std::string("re-runs: 0 transient fault(s); skipped as reproduced: 0 non-finite, 0 "
                    "spiky\n"),
        std::string("consumed samples: 4 "),
        std::string("parallel: world 1, tp 1, dp 1, ep 1 (expert dp 1)\n"),
        "tokenizer: tokenizer.o200k_harmony, vocabulary 201088, asset sha256 " + sha + "\n",
        "parameters: " + std::to_string(params) + " in " + std::to_string(j["parameters"].size()) +
            " tensors\n",
        std::string("files: 3, ")})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  for (const char* f : {"model.safetensors", "optimizer_rank00000.safetensors", "run.toml"}) {
    const auto h = host::data::hash_file((step / f).string());
    const std::size_t at = r.out.find(std::string("  ") + f + " ");
    ASSERT_NE(at, std::string::npos) << f << "\n" << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(line.find(" " + std::to_string(h.bytes) + " bytes  sha256 " + h.sha256),
              std::string::npos)
        << line;
  }
}

// VPMOE_FAIL_NTH_WRITE=1: the disk is full at the next checkpoint's first write. The run fails
// naming the file; the previous checkpoint and latest stay, and verify and --resume take them.
TEST_F(HostCliCheckpoint, DiskFullKeepsThePreviousCheckpoint) {
  fs::copy(suite_ / "run", dir_ / "run", fs::copy_options::recursive);
  std::string toml = run_toml(dir_ / "run");
  toml.replace(toml.find("train_iters = 2"), 15, "train_iters = 3");
  const std::string cfg = write("run3.toml", toml);
  const fs::path ckpts = dir_ / "run/checkpoints";
  const Result full = run("--config '" + cfg + "' --resume", "VPMOE_FAIL_NTH_WRITE=1");
  EXPECT_EQ(full.rc, 1);
  EXPECT_NE(full.err.find((ckpts / "step_00000003.tmp/model.safetensors").string() +
                          ": write failed (No space left on device)"),
            std::string::npos)
      << full.err;
  EXPECT_EQ(slurp(ckpts / "latest"), "step_00000002\n");
  EXPECT_FALSE(fs::exists(ckpts / "step_00000003.tmp"));
  const Result ok = run("checkpoint verify '" + ckpts.string() + "'");
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_EQ(ok.out.rfind("OK " + (ckpts / "step_00000002").string() + ": step 2, ", 0), 0u)
      << ok.out;
  const Result resumed = run("--config '" + cfg + "' --resume");
  EXPECT_EQ(resumed.rc, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from " + (ckpts / "step_00000002").string()),
            std::string::npos)
      << resumed.err;
  EXPECT_EQ(slurp(ckpts / "latest"), "step_00000003\n");
}

TEST_F(HostCliCheckpoint, UsageErrorsExit2AndAMissingCheckpointExits1) {
  const Result action = run("checkpoint frobnicate '" + checkpoints().string() + "'");
  EXPECT_EQ(action.rc, 2);
  EXPECT_NE(action.err.find("checkpoint: expected verify or inspect, found \"frobnicate\""),
            std::string::npos)
      << action.err;
  const Result no_dir = run("checkpoint verify");
  EXPECT_EQ(no_dir.rc, 2);
  EXPECT_NE(no_dir.err.find("checkpoint verify: give the checkpoint directory"), std::string::npos)
      << no_dir.err;
  const Result help = run("checkpoint --help");
  EXPECT_EQ(help.rc, 0);
  EXPECT_EQ(help.out.rfind("Usage: vpmoe-host checkpoint verify DIR", 0), 0u) << help.out;
  const Result missing = run("checkpoint inspect '" + (dir_ / "nothing").string() + "'");
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find((dir_ / "nothing").string() +
                             " is neither a checkpoint (no state.json) nor a checkpoints "
                             "directory (no latest)"),
            std::string::npos)
      << missing.err;
}

}  // namespace
}  // namespace vpmoe::testing
