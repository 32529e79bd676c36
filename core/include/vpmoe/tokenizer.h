#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vpmoe {

struct TokenizerIdentity {
  std::string name;          // spec name, e.g. "tokenizer.o200k_harmony"
  std::string asset_sha256;  // hex
  std::int64_t vocab_size = 0;  // padded
};

class Tokenizer {
 public:
  static constexpr const char* kind = "tokenizer";
  virtual ~Tokenizer() = default;
  // Every special token text is plain text.
  virtual std::vector<std::int32_t> encode_ordinary(std::string_view text) const = 0;
  // Specials in `allowed` become their ids (allowed = {"all"} allows every one); any other
  // special token text is an error, as tiktoken does.
  virtual std::vector<std::int32_t> encode(std::string_view text,
                                           std::span<const std::string> allowed) const = 0;
  virtual std::string decode_bytes(std::span<const std::int32_t> ids) const = 0;
  virtual std::optional<std::int32_t> special_token(std::string_view text) const = 0;
  virtual std::int64_t vocab_size() const = 0;  // padded size (201,088 for o200k_harmony)
  virtual std::int32_t eod_id() const = 0;
  virtual TokenizerIdentity identity() const = 0;
};

}  // namespace vpmoe
