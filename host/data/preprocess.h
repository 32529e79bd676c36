#pragma once
// Dataset preprocessing: JSON Lines in, Megatron indexed datasets out (spec/data.md).
//   text:    {"text": ...} per line -> PREFIX.bin/.idx (int32), EOD after each document
//   harmony: {"messages": [...]} per line -> PREFIX_tokens (int32), PREFIX_lossmask (uint8),
//            PREFIX_span (uint8), one conversation rendered per document (EOD included)
//   tokens:  {"ids": [...], "loss_mask"?, "span"?, "teacher_logp"?} per line (ids as given,
//            nothing appended) -> PREFIX.bin/.idx, or PREFIX_tokens + PREFIX_lossmask
//            (+ PREFIX_span) when the lines carry a mask or spans, and PREFIX_teacher_logp
//            (float16 bits in a uint16 dataset) when they carry teacher log-probabilities
// Workers encode chunks of lines in parallel; one writer writes documents in input order, so
// the output is byte-identical for any worker count. A bad line stops the run naming its line
// number; nothing is renamed into place unless every line succeeded. With a split key, each
// line goes to PREFIX_train or PREFIX_valid by a hash of its key's value (split_point), so a
// line's side depends on that value alone.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vpmoe/tokenizer.h"

namespace vpmoe::host::data {

struct PreprocessOptions {
  std::string input;
  std::string output_prefix;
  std::string format = "text";  // text | harmony | tokens
  unsigned workers = 1;
  bool allow_specials = false;  // text: every special token text becomes its id
  std::string split_key;        // non-empty: PREFIX_train / PREFIX_valid by this field
  double valid_fraction = 0;    // with split_key: the share of PREFIX_valid, in (0, 1)
  std::string command_line;     // recorded in the manifest
};

struct PreprocessSummary {
  std::uint64_t documents = 0;  // every side
  std::uint64_t tokens = 0;
  std::uint64_t valid_documents = 0;  // with a split key: those of PREFIX_valid
  std::uint64_t valid_tokens = 0;
  std::vector<std::string> outputs;    // dataset prefixes written
  std::vector<std::string> manifests;  // PREFIX.manifest.json, or one per side of a split
};

PreprocessSummary preprocess(const Tokenizer& tok, const PreprocessOptions& opts);

// Where a split key's value falls in [0, 1): the first 8 bytes of the SHA-256 of
// `canonical_json` (the value as compact JSON, object keys sorted) read as a big-endian
// integer u, then (u >> 11) / 2^53. A line goes to PREFIX_valid when this is < the fraction.
double split_point(std::string_view canonical_json);

}  // namespace vpmoe::host::data
