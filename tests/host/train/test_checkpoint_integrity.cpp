// Checkpoint integrity (issue 19): state.json lists every other file of the step directory with
// its sha256 and size; a load checks them all before any weight is used and refuses a flipped
// byte, a truncated or a missing file naming the path and both digests; an older checkpoint
// without the list loads with a warning; files the list does not name are never read. A full
// disk at any write of a checkpoint leaves the previous checkpoint and `latest` as they were.
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "data/file_hash.h"
#include "host/train/run_fixture.h"
#include "io/durable.h"
#include "train/checkpoint.h"
#include "train/checkpoint_integrity.h"
#include "train/run.h"
#include "vpmoe/comm.h"
#include "vpmoe/log.h"

namespace vpmoe::testing {
namespace {

namespace fs = std::filesystem;
using namespace host::train;
using host::data::hash_file;

class CheckpointIntegrity : public RunTest {
 protected:
  // A 3-step run's checkpoint.
  fs::path checkpoint() { return train_run(config("ck", 3), reg_).checkpoint; }
  // The error of resuming run "ck" to step 4, or "" when it resumes.
  std::string refusal() {
    try {
      RunOptions o;
      o.resume = true;
      train_run(config("ck", 4), reg_, o);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }
  static void edit_state(const fs::path& ck, const std::function<void(nlohmann::json&)>& edit) {
    auto j = nlohmann::json::parse(bytes(ck / "state.json"));
    edit(j);
    std::ofstream(ck / "state.json") << j.dump(2);
  }
};

TEST_F(CheckpointIntegrity, StateJsonListsEveryFileWithItsDigest) {
  const fs::path ck = checkpoint();
  const auto j = nlohmann::json::parse(bytes(ck / "state.json"));
  ASSERT_TRUE(j.contains("files")) << j.dump(2);
  std::set<std::string> on_disk;
  for (const auto& e : fs::directory_iterator(ck))
    if (e.path().filename() != "state.json") on_disk.insert(e.path().filename().string());
  EXPECT_EQ(on_disk, (std::set<std::string>{"model.safetensors", "optimizer_rank00000.safetensors",
                                            "run.toml"}));
  std::set<std::string> listed;
  for (const auto& [name, v] : j["files"].items()) {
    listed.insert(name);
    const auto h = hash_file((ck / name).string());
    EXPECT_EQ(v["sha256"], h.sha256) << name;
    EXPECT_EQ(v["bytes"], h.bytes) << name;
  }
  EXPECT_EQ(listed, on_disk);
  EXPECT_NO_THROW(verify_files(ck.string(), *listed_files(j, ck.string()), *single_process_comm()));
}

TEST_F(CheckpointIntegrity, FlippedByteIsRefusedNamingTheFileAndBothDigests) {
  const fs::path model = checkpoint() / "model.safetensors";
  const auto before = hash_file(model.string());
  {
    std::fstream f(model, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(std::streamoff(before.bytes / 2));
    const char c = char(f.get());
    f.seekp(std::streamoff(before.bytes / 2));
    f.put(char(c ^ 0x01));
  }
  const auto after = hash_file(model.string());
  ASSERT_NE(after.sha256, before.sha256);
  const std::string e = refusal();
  const std::string n = std::to_string(before.bytes);
  EXPECT_NE(e.find("failed its integrity check"), std::string::npos) << e;
  EXPECT_NE(
      e.find(model.string() + ": damaged; expected " + n + " bytes with sha256 " + before.sha256 +
             " (state.json), found " + n + " bytes with sha256 " + after.sha256),
      std::string::npos)
      << e;
}

TEST_F(CheckpointIntegrity, TruncatedFileIsRefused) {
  const fs::path opt = checkpoint() / "optimizer_rank00000.safetensors";
  const auto whole = hash_file(opt.string());
  fs::resize_file(opt, whole.bytes / 2);
  const std::string e = refusal();
  EXPECT_NE(e.find(opt.string() + ": damaged; expected " + std::to_string(whole.bytes) +
                   " bytes with sha256 " + whole.sha256 + " (state.json), found " +
                   std::to_string(whole.bytes / 2) + " bytes"),
            std::string::npos)
      << e;
}

TEST_F(CheckpointIntegrity, MissingFileIsRefusedNamingThePath) {
  const fs::path ck = checkpoint();
  const auto toml = hash_file((ck / "run.toml").string());
  fs::remove(ck / "run.toml");
  const std::string e = refusal();
  EXPECT_NE(e.find((ck / "run.toml").string() + ": missing; expected " +
                   std::to_string(toml.bytes) + " bytes with sha256 " + toml.sha256),
            std::string::npos)
      << e;
}

TEST_F(CheckpointIntegrity, OlderCheckpointWithoutDigestsLoadsWithAWarning) {
  const fs::path ck = checkpoint();
  edit_state(ck, [](nlohmann::json& j) { j.erase("files"); });
  ::testing::internal::CaptureStderr();
  const std::string e = refusal();
  log::flush();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(e, "");
  EXPECT_NE(err.find("checkpoint " + ck.string() +
                     ": state.json lists no file digests (written before they were recorded); "
                     "its files cannot be verified"),
            std::string::npos)
      << err;
  EXPECT_EQ(bytes(dir_ / "ck/checkpoints/latest"), "step_00000004\n");
}

TEST_F(CheckpointIntegrity, FilesTheListDoesNotNameAreNeverRead) {
  const fs::path ck = checkpoint();
  // A stray optimizer file (not a safetensors file at all) is ignored: the list names the files.
  std::ofstream(ck / "optimizer_rank00007.safetensors") << "junk";
  EXPECT_EQ(
      unlisted_files(ck.string(),
                     *listed_files(nlohmann::json::parse(bytes(ck / "state.json")), ck.string())),
      std::vector<std::string>{"optimizer_rank00007.safetensors"});
  EXPECT_EQ(refusal(), "");
  // A list without model.safetensors: the file cannot be vouched for, so it is not read.
  const fs::path ck4 = dir_ / "ck/checkpoints/step_00000004";
  edit_state(ck4, [](nlohmann::json& j) { j["files"].erase("model.safetensors"); });
  const std::string e = refusal();
  EXPECT_NE(e.find((ck4 / "model.safetensors").string() +
                   ": not listed in state.json's files, so it cannot be verified"),
            std::string::npos)
      << e;
}

// Disarms the write fault however the test ends.
struct NoFaultAfter {
  ~NoFaultAfter() { io::fail_nth_write(0); }
};

TEST_F(CheckpointIntegrity, DiskFullLeavesThePreviousCheckpointAndLatest) {
  const std::uint64_t w0 = io::write_calls();
  const fs::path ck3 = checkpoint();
  const std::uint64_t writes = io::write_calls() - w0;  // one checkpoint's writes
  ASSERT_GE(writes, 6u) << "model and optimizer header and tensors, run.toml, state.json, latest";
  const fs::path dir = dir_ / "ck/checkpoints";
  const std::string step3 = "step_00000003\n";
  NoFaultAfter disarm;
  // The first write, the first tensor, one in the middle, run.toml, state.json and latest.
  for (const std::uint64_t n :
       {std::uint64_t(1), std::uint64_t(3), writes / 2, writes - 2, writes - 1, writes}) {
    io::fail_nth_write(n, ENOSPC);
    const std::string e = refusal();
    io::fail_nth_write(0);
    EXPECT_NE(e.find(dir.string() + "/"), std::string::npos) << "write " << n << ": " << e;
    EXPECT_NE(e.find("No space left on device"), std::string::npos) << "write " << n << ": " << e;
    if (n == writes)
      EXPECT_NE(e.find(dir.string() + "/latest.tmp-"), std::string::npos) << e;
    else if (n == writes - 1)
      EXPECT_NE(e.find("step_00000004.tmp/state.json"), std::string::npos) << e;
    EXPECT_EQ(bytes(dir / "latest"), step3) << "write " << n;
    EXPECT_FALSE(fs::exists(dir / "step_00000004.tmp")) << "write " << n << ": the partial step";
    EXPECT_FALSE(fs::exists(dir / ("latest.tmp-" + std::to_string(::getpid())))) << "write " << n;
    const auto j = read_checkpoint_state(ck3.string());
    EXPECT_NO_THROW(
        verify_files(ck3.string(), *listed_files(j, ck3.string()), *single_process_comm()))
        << "write " << n;
  }
  // With space again, a fresh load takes the previous step and the run goes on.
  RunOptions o;
  o.resume = true;
  const RunResult r = train_run(config("ck", 4), reg_, o);
  EXPECT_EQ(r.resumed_from, ck3.string());
  EXPECT_EQ(r.first_step, 3);
  EXPECT_EQ(bytes(dir / "latest"), "step_00000004\n");
}

}  // namespace
}  // namespace vpmoe::testing
