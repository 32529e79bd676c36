#pragma once
// Integrity of a checkpoint directory (issue 19): state.json's "files" maps every other file of
// the step directory to the sha256 and size of the bytes written, so damage from a disk, a copy
// or a hand is found before any weight is used. Each rank hashes what it writes as it writes
// it (no second read) and rank 0, which writes state.json, gathers the digests over the world
// (a message per rank) rather than through sidecar files: nothing extra lands in the directory,
// and rank 0 never rereads the other ranks' files.
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/file_hash.h"
#include "vpmoe/comm.h"

namespace vpmoe::host::train {

// state.json's format_version. "files" came without a new version: older builds load these
// checkpoints (unverified), and these builds load older ones with a warning.
inline constexpr int kCheckpointFormatVersion = 1;

// File name inside the step directory -> its sha256 and size.
using FileDigests = std::map<std::string, data::FileHash>;

// state.json of a step directory, parsed, its format checked; errors name the path.
nlohmann::json read_checkpoint_state(const std::string& dir);

nlohmann::json files_json(const FileDigests& files);  // {"name": {"sha256", "bytes"}}
// state.json's "files", or nullopt for a checkpoint written before they were recorded.
std::optional<FileDigests> listed_files(const nlohmann::json& state, const std::string& dir);

// Every rank's digests, merged, on rank 0 (the others get their own back). Every rank of the
// world calls it; a name written by two ranks is refused.
FileDigests gather_digests(Comm& world, const FileDigests& mine);

// "" when dir/name has the listed size and sha256, else why not: the path and what was
// expected against what was found (or that it is missing).
std::string check_file(const std::string& dir, const std::string& name, const data::FileHash& want);
// Checks every listed file, the files shared out over the world's ranks; every rank then
// throws the same error, naming each damaged file. Every rank of the world calls it.
void verify_files(const std::string& dir, const FileDigests& listed, Comm& world);
// Files of dir that neither are state.json nor are listed: nothing reads or vouches for them.
std::vector<std::string> unlisted_files(const std::string& dir, const FileDigests& listed);

}  // namespace vpmoe::host::train
