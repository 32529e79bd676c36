#pragma once
// Checkpoints (DESIGN.md "Files on disk", spec/training.md §5): <dir>/step_<iteration>/ holds
//   model.safetensors      fp32 main parameters by name, and the modules' state ("state/...":
//                          the routers' expert biases)
//   optimizer_rank<N>.safetensors  optimizer state ("<group>/<parameter>[@<b>:<e>].<slot>", in
//                          the whole model's coordinates), each piece written once: by rank 0,
//                          by an ep rank's first replica (its experts), or with the distributed
//                          optimizer by the rank that owns it
//   state.json             iteration, updates, skipped steps, the re-run's counters and spike
//                          reference (train/rerun.h), data position, consumed samples,
//                          seed, the model's parameter shapes, tokenizer identity, build version,
//                          and "files": every other file's sha256 and size
//                          (train/checkpoint_integrity.h), checked before a load uses any
//   run.toml (+ the model_config it extends)  copies of the configuration
// Under expert parallelism the expert stacks and their optimizer state go to per-ep-rank files
// (train/checkpoint_shards.h) and state.json records the layout; every rank writes its files,
// and rank 0 renames the directory and updates latest only after all of them are done.
// Written into step_<n>.tmp, fsynced, renamed, and only then <dir>/latest updated, so a failed
// write (a full disk) leaves the previous checkpoint and latest as they were. No RNG state
// is saved because there is none: every random stream is a function of the seed and a position.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <optional>

#include "model/gpt_model.h"
#include "train/batch_source.h"
#include "train/checkpoint_integrity.h"
#include "train/optimizer_set.h"
#include "train/trainer.h"
#include "vpmoe/config.h"
#include "vpmoe/parallel.h"
#include "vpmoe/tokenizer.h"

namespace vpmoe::host::train {

struct CheckpointParts {
  const Config* config = nullptr;
  model::GptModel* model = nullptr;
  OptimizerSet* optimizer = nullptr;
  Trainer* trainer = nullptr;
  BatchSource* data = nullptr;
  TokenizerIdentity tokenizer;
  std::int64_t global_batch = 0;  // samples per step, for consumed_samples
  int micro_batches = 1;          // per step on each rank: a data position counts them
  std::shared_ptr<const ParallelState> parallel;  // null: one process
};

// Writes the checkpoint of the parts' current state; returns its directory. Every rank of the
// world calls it.
std::string save_checkpoint(const std::string& dir, const CheckpointParts& p);
// path: a step directory, or a checkpoints directory (its `latest` is read). Refuses, saying
// what differs, a checkpoint of another model shape, tokenizer or optimizer layout. Returns the
// step directory it loaded.
std::string load_checkpoint(const std::string& path, CheckpointParts& p);
// The weights and the modules' state (the routers' expert biases) of the step directory dir
// into m, for this rank L of its layout: j is its state.json (read_checkpoint_state), listed
// its files (listed_files; nullopt for a checkpoint from before the list, whose files are then
// read unlisted). Expert rows come from the saved ep files that overlap this rank's experts,
// whatever the ep size that wrote them. Refuses, listing them, parameters of another shape or
// name. Checks no digest: the caller verifies the files first (verify_files).
void load_model_weights(const std::string& dir, const nlohmann::json& j,
                        const std::optional<FileDigests>& listed, model::GptModel& m,
                        const ParallelLayout& L);
// The step directory path names (following `latest` when path is a checkpoints directory).
std::string resolve_checkpoint(const std::string& path);

}  // namespace vpmoe::host::train
