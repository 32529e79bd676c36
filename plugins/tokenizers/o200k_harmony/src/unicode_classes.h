#pragma once
// Per-code-point class bits for the o200k pre-tokenizer, from ICU's Unicode data: a two-stage
// table (256 code points per block, identical blocks shared) so one lookup is two loads.
#include <cstdint>
#include <vector>

namespace vpmoe::o200k {

enum CharClass : std::uint8_t {
  kUpperish = 1,  // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
  kLowerish = 2,  // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
  kLetter = 4,    // \p{L}
  kNumber = 8,    // \p{N}
  kSpace = 16,    // \s: the White_Space property, as Rust's regex uses
  kCrLf = 32,     // \r or \n
};

class CharClasses {
 public:
  CharClasses();  // ~1 ms: ICU enumerates category ranges
  std::uint8_t of(std::uint32_t cp) const {
    return blocks_[static_cast<std::size_t>(stage1_[cp >> 8]) * 256 + (cp & 255)];
  }
  std::uint8_t ascii(std::uint8_t c) const { return ascii_[c]; }  // c < 128

 private:
  std::vector<std::uint16_t> stage1_;  // 0x1100 entries
  std::vector<std::uint8_t> blocks_;
  std::uint8_t ascii_[128];
};

const CharClasses& char_classes();  // built once, thread-safe

}  // namespace vpmoe::o200k
