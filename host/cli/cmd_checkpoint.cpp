// vpmoe-host checkpoint verify DIR | checkpoint inspect DIR: a checkpoint offline, without the
// run's configuration. DIR is a step directory or a checkpoints directory with `latest`, as
// --resume and [checkpoint] load take it.
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "train/checkpoint.h"
#include "train/checkpoint_integrity.h"
#include "vpmoe/comm.h"
#include "vpmoe/error.h"
#include "vpmoe/log.h"

#include "cli/cli.h"

namespace fs = std::filesystem;

namespace vpmoe::host::cli {
namespace {

using train::FileDigests;

// Every listed file's size and sha256 against the disk: one OK line, or an error naming each
// damaged or missing file.
int verify(const std::string& dir) {
  const nlohmann::json j = train::read_checkpoint_state(dir);
  const std::optional<FileDigests> listed = train::listed_files(j, dir);
  if (!listed)
    throw Error("checkpoint " + dir +
                ": state.json lists no file digests (written before they were recorded); it "
                "cannot be verified");
  for (const std::string& f : train::unlisted_files(dir, *listed))
    log::warn("checkpoint " + dir + ": " + f +
              " is not listed in state.json: not verified, and a load does not read it");
  train::verify_files(dir, *listed, *single_process_comm());
  std::uint64_t bytes = 0;
  for (const auto& [name, h] : *listed) bytes += h.bytes;
  std::cout << "OK " << dir << ": step " << j.value("iteration", std::int64_t(0)) << ", "
            << listed->size() << " files, " << bytes << " bytes match state.json\n";
  return kExitOk;
}

std::string count_of(const nlohmann::json& j, const char* key) {
  return j.contains(key) ? j[key].dump() : "?";
}

// What state.json records, and the files with their sizes (as listed, and on disk where that
// differs). Reads no tensor and checks no digest.
int inspect(const std::string& dir) {
  const nlohmann::json j = train::read_checkpoint_state(dir);
  std::ostream& o = std::cout;
  o << "checkpoint: " << dir << "\n"
    << "step: " << count_of(j, "iteration") << " (updates " << count_of(j, "updates")
    << ", skipped " << count_of(j, "skipped_total") << " in all, "
    << count_of(j, "skipped_in_a_row") << " in a row)\n";
  if (j.contains("rerun_transient"))
    o << "re-runs: " << count_of(j, "rerun_transient") << " transient fault(s); skipped as "
      << "reproduced: " << count_of(j, "skipped_nonfinite") << " non-finite, "
      << count_of(j, "skipped_spiky") << " spiky\n";
  o << "consumed samples: " << count_of(j, "consumed_samples") << " (data position "
    << count_of(j, "data_position") << ", " << count_of(j, "micro_batches")
    << " micro-batch(es) a step, global batch " << count_of(j, "global_batch_size")
    << ", sequence length " << count_of(j, "seq_length") << ", seed " << count_of(j, "seed")
    << ")\n";
  if (j.contains("parallel")) {
    const auto& p = j["parallel"];
    o << "parallel: world " << count_of(p, "world") << ", tp " << count_of(p, "tp") << ", dp "
      << count_of(p, "dp") << ", ep " << count_of(p, "ep") << " (expert dp "
      << count_of(p, "expert_dp") << ")\n";
  } else {
    o << "parallel: not recorded (one process)\n";
  }
  const nlohmann::json t = j.value("tokenizer", nlohmann::json::object());
  o << "tokenizer: " << t.value("name", "?") << ", vocabulary " << count_of(t, "vocab_size")
    << ", asset sha256 " << t.value("asset_sha256", "?") << "\n";
  std::uint64_t params = 0, tensors = 0;
  const nlohmann::json shapes = j.value("parameters", nlohmann::json::object());
  for (const auto& [name, shape] : shapes.items()) {
    std::uint64_t n = 1;
    for (const auto& d : shape) n *= d.get<std::uint64_t>();
    params += n;
    ++tensors;
  }
  o << "parameters: " << params << " in " << tensors << " tensors\n";
  if (j.contains("build"))
    o << "build: " << j["build"].value("version", "?") << " (tag " << j["build"].value("tag", "?")
      << ")\n";

  // Sizes as listed, or (an older checkpoint) as found.
  const std::optional<FileDigests> listed = train::listed_files(j, dir);
  FileDigests files;
  if (listed) {
    files = *listed;
  } else {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().filename() != "state.json")
        files[e.path().filename().string()].bytes = e.file_size();
  }
  std::uint64_t total = 0;
  std::size_t width = 0;
  for (const auto& [name, h] : files) total += h.bytes, width = std::max(width, name.size());
  o << "files: " << files.size() << ", " << total << " bytes"
    << (listed ? " (as state.json lists them; `vpmoe-host checkpoint verify` checks them)"
               : " on disk (state.json lists no digests: they cannot be verified)")
    << "\n";
  for (const auto& [name, h] : files) {
    o << "  " << std::left << std::setw(int(width)) << name << "  " << std::right << std::setw(12)
      << h.bytes << " bytes";
    if (listed) {
      o << "  sha256 " << h.sha256;
      std::error_code ec;
      const auto size = fs::file_size(fs::path(dir) / name, ec);
      if (ec)
        o << "  (missing)";
      else if (size != h.bytes)
        o << "  (" << size << " bytes on disk)";
    }
    o << "\n";
  }
  return kExitOk;
}

}  // namespace

int run_checkpoint(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("checkpoint options");
  std::string action, path;
  desc.add_options()("action", po::value(&action)->value_name("verify|inspect"),
                     "verify: check every file against state.json's sizes and sha256; "
                     "inspect: print what state.json records")(
      "dir", po::value(&path)->value_name("DIR"),
      "a checkpoint (step_N/) or a checkpoints directory (its `latest` is followed)");
  add_common_options(desc, common);
  po::positional_options_description pos;
  pos.add("action", 1).add("dir", 1);
  parse_command_args(args, desc, common, &pos);
  if (common.help) {
    std::cout << "Usage: vpmoe-host checkpoint verify DIR\n"
                 "       vpmoe-host checkpoint inspect DIR\n\n"
              << desc
              << "\nverify exits 0 with one OK line, 1 naming each damaged or missing file.\n";
    return kExitOk;
  }
  if (action != "verify" && action != "inspect")
    throw UsageError("checkpoint: expected verify or inspect, found \"" + action +
                     "\" (vpmoe-host checkpoint verify|inspect DIR)");
  if (path.empty())
    throw UsageError("checkpoint " + action +
                     ": give the checkpoint directory (vpmoe-host "
                     "checkpoint " +
                     action + " DIR)");
  const std::string dir = train::resolve_checkpoint(path);
  return action == "verify" ? verify(dir) : inspect(dir);
}

}  // namespace vpmoe::host::cli
