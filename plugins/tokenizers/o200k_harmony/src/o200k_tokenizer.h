#pragma once
// tokenizer.o200k_harmony: tiktoken's o200k_harmony encoding (o200k_base ranks and pattern,
// Harmony special tokens), exact to tiktoken 1.0.22, plus Harmony conversation rendering.
#include <memory>
#include <string>

#include "vpmoe/tokenizer.h"

namespace vpmoe::o200k {

inline constexpr std::int64_t kVocabSize = 201088;  // 199,998 ranks + ids 199998..201087
inline constexpr std::int32_t kNumRanks = 199998;
inline constexpr std::int32_t kStartOfText = 199998;
inline constexpr std::int32_t kEndOfText = 199999;  // EOD
inline constexpr std::int32_t kReturn = 200002;
inline constexpr std::int32_t kConstrain = 200003;
inline constexpr std::int32_t kChannel = 200005;
inline constexpr std::int32_t kStart = 200006;
inline constexpr std::int32_t kEnd = 200007;
inline constexpr std::int32_t kMessage = 200008;
inline constexpr std::int32_t kCall = 200012;
inline constexpr const char* kAssetSha256 =
    "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d";

class O200kHarmony final : public Tokenizer {
 public:
  // Reads and verifies the o200k_base.tiktoken asset; any other file is refused with a
  // message naming the path and both hashes.
  static std::unique_ptr<O200kHarmony> load(const std::string& asset_path);
  ~O200kHarmony() override;

  std::vector<std::int32_t> encode_ordinary(std::string_view text) const override;
  std::vector<std::int32_t> encode(std::string_view text,
                                   std::span<const std::string> allowed) const override;
  std::string decode_bytes(std::span<const std::int32_t> ids) const override;
  std::optional<std::int32_t> special_token(std::string_view text) const override;
  std::int64_t vocab_size() const override { return kVocabSize; }
  std::int32_t eod_id() const override { return kEndOfText; }
  TokenizerIdentity identity() const override;
  RenderedConversation render_conversation(std::string_view conversation_json,
                                           const RenderOptions& options) const override;

  // Appends the ids of text (ordinary encoding) to out; the allocation-free form the batch
  // paths use.
  void encode_ordinary_into(std::string_view text, std::vector<std::int32_t>& out) const;

 private:
  // encode_ordinary_into for text already checked as UTF-8 (encode checks the whole text
  // once, then encodes the stretches between specials, which split only at ASCII).
  void encode_valid(std::string_view text, std::vector<std::int32_t>& out) const;
  struct Impl;
  explicit O200kHarmony(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vpmoe::o200k
