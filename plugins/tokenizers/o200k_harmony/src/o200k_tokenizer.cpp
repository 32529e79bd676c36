#include "o200k_tokenizer.h"

#include <algorithm>

#include "asset.h"
#include "bpe.h"
#include "harmony/render.h"
#include "piece_cache.h"
#include "pretokenizer.h"
#include "rank_table.h"
#include "specials.h"
#include "unicode_classes.h"
#include "vpmoe/error.h"
#include "vpmoe/utf8.h"

namespace vpmoe::o200k {

struct O200kHarmony::Impl {
  std::string sha256;
  RankTable ranks;
  const SpecialTokens& specials = special_tokens();
  const CharClasses& classes = char_classes();
};

O200kHarmony::O200kHarmony(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
O200kHarmony::~O200kHarmony() = default;

std::unique_ptr<O200kHarmony> O200kHarmony::load(const std::string& asset_path) {
  Asset a = load_asset(asset_path, kAssetSha256);
  if (a.size() != static_cast<std::size_t>(kNumRanks))
    throw Error("tokenizer asset " + asset_path + ": " + std::to_string(a.size()) +
                " ranks, expected " + std::to_string(kNumRanks));
  auto impl = std::unique_ptr<Impl>(
      new Impl{a.sha256, RankTable(std::move(a.arena), std::move(a.offsets))});
  return std::unique_ptr<O200kHarmony>(new O200kHarmony(std::move(impl)));
}

void O200kHarmony::encode_ordinary_into(std::string_view text,
                                        std::vector<std::int32_t>& out) const {
  utf8_require(text, "tokenizer.o200k_harmony: text");
  encode_valid(text, out);
}

void O200kHarmony::encode_valid(std::string_view text, std::vector<std::int32_t>& out) const {
  const PreTokenizer pre(impl_->classes, text);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());
  PieceCache& cache = thread_piece_cache(impl_->ranks);
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t end = pre.piece_end(pos);
    bpe_encode(impl_->ranks, cache, bytes + pos, end - pos, out);
    pos = end;
  }
}

std::vector<std::int32_t> O200kHarmony::encode_ordinary(std::string_view text) const {
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 4 + 4);
  encode_ordinary_into(text, out);
  return out;
}

std::vector<std::int32_t> O200kHarmony::encode(std::string_view text,
                                               std::span<const std::string> allowed) const {
  const SpecialTokens& sp = impl_->specials;
  const bool all = std::find(allowed.begin(), allowed.end(), "all") != allowed.end();
  for (const auto& a : allowed)
    if (a != "all" && !sp.id_of(a))
      throw Error("tokenizer.o200k_harmony: \"" + a +
                  "\" in the allowed specials is not a special token of o200k_harmony");
  utf8_require(text, "tokenizer.o200k_harmony: text");
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 4 + 4);
  std::size_t start = 0;
  // Text is split at allowed specials; each stretch between them is encoded on its own.
  while (auto m = sp.find(text, start)) {
    const std::string_view special = text.substr(m->pos, m->len);
    if (!all && std::find(allowed.begin(), allowed.end(), special) == allowed.end())
      throw Error("tokenizer.o200k_harmony: the text holds the special token " +
                  std::string(special) + " at byte " + std::to_string(m->pos) +
                  ", which is not allowed (allow it, or encode ordinarily to treat it as text)");
    encode_valid(text.substr(start, m->pos - start), out);
    out.push_back(m->id);
    start = m->pos + m->len;
  }
  encode_valid(text.substr(start), out);
  return out;
}

std::string O200kHarmony::decode_bytes(std::span<const std::int32_t> ids) const {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int32_t id = ids[i];
    if (id >= 0 && id < kNumRanks)
      out += impl_->ranks.bytes(static_cast<std::uint32_t>(id));
    else if (id >= kNumRanks && id < kVocabSize)
      out += impl_->specials.text_of(id);
    else
      throw Error("tokenizer.o200k_harmony: token id " + std::to_string(id) + " at position " +
                  std::to_string(i) + " is outside the vocabulary [0, " +
                  std::to_string(kVocabSize) + ")");
  }
  return out;
}

std::optional<std::int32_t> O200kHarmony::special_token(std::string_view text) const {
  return impl_->specials.id_of(text);
}

TokenizerIdentity O200kHarmony::identity() const {
  return {"tokenizer.o200k_harmony", impl_->sha256, kVocabSize};
}

RenderedConversation O200kHarmony::render_conversation(std::string_view conversation_json,
                                                       const RenderOptions& options) const {
  return render_harmony(*this, conversation_json, options);
}

}  // namespace vpmoe::o200k
