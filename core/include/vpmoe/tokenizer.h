#pragma once
// Tokenizer plug point: encode/decode with tiktoken's special-token rules, the padded
// vocabulary, an identity for checkpoints, and chat rendering for conversation data.
// Every method is const and safe to call from many threads at once.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vpmoe {

struct TokenizerIdentity {
  std::string name;             // spec name, e.g. "tokenizer.o200k_harmony"
  std::string asset_sha256;     // hex
  std::int64_t vocab_size = 0;  // padded
};

// One conversation rendered for training: three arrays of equal length.
struct RenderedConversation {
  std::vector<std::int32_t> tokens;
  std::vector<std::uint8_t> loss_mask;  // 1 on every token of an assistant message
  std::vector<std::uint8_t> span;       // 0 prompt/ignore, 1 assistant analysis, 2 final
};

struct RenderOptions {
  bool training = true;        // a last assistant `final` message ends in <|return|>
  bool pipeline_rules = true;  // vpMoE's data rules: roles, channels, >= 1 assistant message
  bool append_eod = true;      // one EOD after the conversation (mask 0, span 0)
  // Inference-style renders (Harmony's own renderer offers these; the data pipeline does not):
  bool completion = false;     // end with <|start|>assistant, a prompt for the next turn
  bool drop_analysis = false;  // drop analysis before the first final when the last
                               // assistant message is final (Harmony's auto_drop_analysis)
};

class Tokenizer {
 public:
  static constexpr const char* kind = "tokenizer";
  virtual ~Tokenizer() = default;
  // Every special token text is plain text. Invalid UTF-8 throws, naming the byte offset
  // (callers that want replacement pass utf8_lossy(text), see vpmoe/utf8.h).
  virtual std::vector<std::int32_t> encode_ordinary(std::string_view text) const = 0;
  // Specials in `allowed` become their ids (allowed = {"all"} allows every one); any other
  // special token text is an error, as tiktoken does.
  virtual std::vector<std::int32_t> encode(std::string_view text,
                                           std::span<const std::string> allowed) const = 0;
  // encode_ordinary of each text, on `threads` threads (0 = all hardware threads); results
  // in input order, identical to encoding one by one.
  std::vector<std::vector<std::int32_t>> encode_ordinary_batch(
      std::span<const std::string_view> texts, unsigned threads = 0) const;
  // Concatenated token bytes (may be invalid UTF-8); an id outside the vocabulary throws.
  virtual std::string decode_bytes(std::span<const std::int32_t> ids) const = 0;
  // decode_bytes checked as UTF-8: throws with the byte offset, or replaces with U+FFFD.
  std::string decode_text(std::span<const std::int32_t> ids, bool lossy = false) const;
  virtual std::optional<std::int32_t> special_token(std::string_view text) const = 0;
  virtual std::int64_t vocab_size() const = 0;  // padded size (201,088 for o200k_harmony)
  virtual std::int32_t eod_id() const = 0;
  virtual TokenizerIdentity identity() const = 0;
  // Renders one conversation ({"messages": [...]}, JSON text). The default throws: only
  // chat tokenizers implement it. Errors name the message index.
  virtual RenderedConversation render_conversation(std::string_view conversation_json,
                                                   const RenderOptions& options) const;
};

}  // namespace vpmoe
