#pragma once
// A tokenizer's identity as JSON, the same keys wherever the host records it (dataset
// manifests, checkpoints).
#include <nlohmann/json.hpp>

#include "vpmoe/tokenizer.h"

namespace vpmoe::host::data {

inline nlohmann::json tokenizer_json(const TokenizerIdentity& id) {
  return {{"name", id.name}, {"asset_sha256", id.asset_sha256}, {"vocab_size", id.vocab_size}};
}

}  // namespace vpmoe::host::data
