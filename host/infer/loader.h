#pragma once
// A trained model from a checkpoint, for inference (score, evaluate, generate): the
// configuration (the run.toml copy inside the checkpoint, or another file), the model built
// from it on one device in one process, its weights and module state (the routers' expert
// biases) after the files it reads are checked against state.json's sha256, and the
// checkpoint's tokenizer (its identity checked against the one recorded). Any layout loads:
// expert rows saved by several ep ranks are gathered into the one process's full stacks.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/gpt_model.h"
#include "vpmoe/config.h"
#include "vpmoe/registry.h"
#include "vpmoe/tokenizer.h"

namespace vpmoe::host::infer {

struct InferOptions {
  // A step directory (checkpoints/step_N) or a checkpoints directory (its `latest` is read).
  std::string checkpoint;
  std::string config;                     // "" = the checkpoint's run.toml copy
  std::string device;                     // "" = the config's [run] device; else auto | cpu | cuda
  std::vector<std::string> plugin_paths;  // searched before the config's [plugins] paths
};

struct LoadedModel {
  Config config;
  std::string dir;        // the step directory loaded
  std::int64_t step = 0;  // its iteration
  Device device;
  bool bf16 = false;  // bf16 compute ([train] precision on CUDA), else fp32
  std::unique_ptr<model::GptModel> model;
  std::unique_ptr<Tokenizer> tokenizer;

  std::int64_t max_sequence_length() const { return config.attention.max_sequence_length; }
  // Ids a prediction may be: those of both the model and the tokenizer (argmax ranges over
  // [0, token_vocab()), never over padding rows the tokenizer cannot decode).
  std::int64_t token_vocab() const;
  // A forward context for `batch` sequences of `seq_len` tokens (training = false).
  Context context(std::int64_t batch, std::int64_t seq_len) const;
};

// Loads the plugins (plugin_paths, then the config's [plugins] paths, VPMOE_PLUGIN_PATH, the
// install's) and the model.
LoadedModel load_for_inference(const InferOptions& o);
// The same with the plugins of reg.
LoadedModel load_for_inference(const InferOptions& o, const Registry& reg);

// The configuration load_for_inference uses: o.config, else the run.toml copy of step
// directory dir (its model_config read from the copy beside it).
Config inference_config(const InferOptions& o, const std::string& dir);

}  // namespace vpmoe::host::infer
