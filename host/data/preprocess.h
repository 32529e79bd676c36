#pragma once
// Dataset preprocessing: JSON Lines in, Megatron indexed datasets out (spec/data.md).
//   text:    {"text": ...} per line -> PREFIX.bin/.idx (int32), EOD after each document
//   harmony: {"messages": [...]} per line -> PREFIX_tokens (int32), PREFIX_lossmask (uint8),
//            PREFIX_span (uint8), one conversation rendered per document (EOD included)
// Workers encode chunks of lines in parallel; one writer writes documents in input order, so
// the output is byte-identical for any worker count. A bad line stops the run naming its line
// number; nothing is renamed into place unless every line succeeded.
#include <cstdint>
#include <string>
#include <vector>

#include "vpmoe/tokenizer.h"

namespace vpmoe::host::data {

struct PreprocessOptions {
  std::string input;
  std::string output_prefix;
  std::string format = "text";  // text | harmony
  unsigned workers = 1;
  bool allow_specials = false;  // text: every special token text becomes its id
  std::string command_line;     // recorded in the manifest
};

struct PreprocessSummary {
  std::uint64_t documents = 0;
  std::uint64_t tokens = 0;
  std::vector<std::string> outputs;  // prefixes written
  std::string manifest;
};

PreprocessSummary preprocess(const Tokenizer& tok, const PreprocessOptions& opts);

}  // namespace vpmoe::host::data
