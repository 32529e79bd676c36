#pragma once
// The loaded tokenizer, shared by every test of this binary (loading takes ~100 ms).
#include <string>

#include "o200k_tokenizer.h"

namespace vpmoe::o200k::test {

inline std::string source_path(const std::string& rel) {
  return std::string(VPMOE_SOURCE_DIR) + "/" + rel;
}

inline const O200kHarmony& tokenizer() {
  static const auto tok = O200kHarmony::load(source_path("data/tokenizer/o200k_base.tiktoken"));
  return *tok;
}

}  // namespace vpmoe::o200k::test
