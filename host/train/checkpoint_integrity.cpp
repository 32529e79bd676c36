#include "train/checkpoint_integrity.h"

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>

#include "vpmoe/error.h"

namespace fs = std::filesystem;

namespace vpmoe::host::train {
namespace {

// Every rank's string on every rank: each rank in turn broadcasts its length, then its bytes.
// A handful of small messages per rank, once per checkpoint: no gather collective is needed.
std::vector<std::string> all_gather_strings(Comm& c, const std::string& mine) {
  std::vector<std::string> all(std::size_t(c.size()));
  for (int r = 0; r < c.size(); ++r) {
    std::string s = r == c.rank() ? mine : std::string();
    std::uint64_t n = s.size();
    c.broadcast_bytes(std::as_writable_bytes(std::span(&n, 1)), r);
    s.resize(n);
    c.broadcast_bytes(std::as_writable_bytes(std::span(s.data(), s.size())), r);
    all[std::size_t(r)] = std::move(s);
  }
  return all;
}

}  // namespace

nlohmann::json read_checkpoint_state(const std::string& dir) {
  const std::string path = (fs::path(dir) / "state.json").string();
  std::ifstream in(path);
  if (!in) throw Error("checkpoint: cannot open " + path);
  std::ostringstream os;
  os << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(os.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object() || j.value("format", "") != "vpmoe-checkpoint" ||
      j.value("format_version", 0) != kCheckpointFormatVersion)
    throw Error(path + ": expected format \"vpmoe-checkpoint\" version " +
                std::to_string(kCheckpointFormatVersion));
  return j;
}

nlohmann::json files_json(const FileDigests& files) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, h] : files) j[name] = {{"sha256", h.sha256}, {"bytes", h.bytes}};
  return j;
}

std::optional<FileDigests> listed_files(const nlohmann::json& state, const std::string& dir) {
  if (!state.contains("files")) return std::nullopt;
  const auto& f = state["files"];
  const std::string where = (fs::path(dir) / "state.json").string() + ": \"files\"";
  if (!f.is_object()) throw Error(where + " is not an object of name -> {sha256, bytes}");
  FileDigests out;
  for (const auto& [name, v] : f.items()) {
    if (!v.is_object() || !v.contains("sha256") || !v["sha256"].is_string() ||
        v["sha256"].get<std::string>().size() != 64 || !v.contains("bytes") ||
        !v["bytes"].is_number_unsigned())
      throw Error(where + " \"" + name + "\": expected {\"sha256\": 64 hex digits, \"bytes\": N}");
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      throw Error(where + " \"" + name + "\": expected a file name inside the directory");
    out[name] = {v["sha256"].get<std::string>(), v["bytes"].get<std::uint64_t>()};
  }
  return out;
}

FileDigests gather_digests(Comm& world, const FileDigests& mine) {
  const std::vector<std::string> all = all_gather_strings(world, files_json(mine).dump());
  if (world.rank() != 0) return mine;
  FileDigests merged;
  for (std::size_t r = 0; r < all.size(); ++r) {
    const nlohmann::json theirs = nlohmann::json::parse(all[r]);
    for (const auto& [name, v] : theirs.items()) {
      if (merged.count(name))
        throw Error("checkpoint: " + name + " was written by two ranks (the second: rank " +
                    std::to_string(r) + ")");
      merged[name] = {v.at("sha256").get<std::string>(), v.at("bytes").get<std::uint64_t>()};
    }
  }
  return merged;
}

std::string check_file(const std::string& dir, const std::string& name,
                       const data::FileHash& want) {
  const std::string path = (fs::path(dir) / name).string();
  const std::string expected =
      std::to_string(want.bytes) + " bytes with sha256 " + want.sha256 + " (state.json)";
  if (!fs::is_regular_file(path)) return path + ": missing; expected " + expected;
  data::FileHash got;
  try {
    got = data::hash_file(path);
  } catch (const Error& e) {
    return e.what();
  }
  if (got.bytes == want.bytes && got.sha256 == want.sha256) return "";
  return path + ": damaged; expected " + expected + ", found " + std::to_string(got.bytes) +
         " bytes with sha256 " + got.sha256;
}

void verify_files(const std::string& dir, const FileDigests& listed, Comm& world) {
  std::string mine;
  std::size_t i = 0;
  for (const auto& [name, want] : listed)
    if (int(i++ % std::size_t(world.size())) == world.rank())
      if (const std::string why = check_file(dir, name, want); !why.empty()) mine += "\n  " + why;
  std::string all;
  for (const std::string& s : all_gather_strings(world, mine)) all += s;
  if (!all.empty()) throw Error("checkpoint " + dir + " failed its integrity check:" + all);
}

std::vector<std::string> unlisted_files(const std::string& dir, const FileDigests& listed) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name != "state.json" && !listed.count(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace vpmoe::host::train
