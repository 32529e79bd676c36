#pragma once
// The tokenizer for the data commands: [plugins] tokenizer and [tokenizer] from the run.toml
// given with the global --config, or the defaults (tokenizer.o200k_harmony with
// data/tokenizer/o200k_base.tiktoken) without one.
#include <memory>

#include "vpmoe/config.h"
#include "vpmoe/tokenizer.h"

#include "cli/cli.h"

namespace vpmoe::host::cli {

struct OpenTokenizer {
  Config config;
  std::unique_ptr<Tokenizer> tokenizer;
};

OpenTokenizer open_tokenizer(const Common& common);

}  // namespace vpmoe::host::cli
