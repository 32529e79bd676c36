#include "specials.h"

#include <algorithm>

#include "o200k_tokenizer.h"

namespace vpmoe::o200k {

SpecialTokens::SpecialTokens() {
  auto named = [](std::int32_t id) -> std::string {
    switch (id) {
      case kStartOfText:
        return "<|startoftext|>";
      case kEndOfText:
        return "<|endoftext|>";
      case kReturn:
        return "<|return|>";
      case kConstrain:
        return "<|constrain|>";
      case kChannel:
        return "<|channel|>";
      case kStart:
        return "<|start|>";
      case kEnd:
        return "<|end|>";
      case kMessage:
        return "<|message|>";
      case kCall:
        return "<|call|>";
      default:
        return "<|reserved_" + std::to_string(id) + "|>";
    }
  };
  for (std::int32_t id = kNumRanks; id < kVocabSize; ++id) {
    text_by_id_.push_back(named(id));
    id_by_text_.emplace(text_by_id_.back(), id);
  }
  id_by_text_.emplace("<|endofprompt|>", 200018);  // from o200k_base itself
}

std::optional<std::int32_t> SpecialTokens::id_of(std::string_view text) const {
  auto it = id_by_text_.find(std::string(text));
  if (it == id_by_text_.end()) return std::nullopt;
  return it->second;
}

std::string_view SpecialTokens::text_of(std::int32_t id) const {
  return text_by_id_.at(static_cast<std::size_t>(id - kNumRanks));
}

std::vector<std::string> SpecialTokens::names() const {
  std::vector<std::string> out;
  for (const auto& [t, id] : id_by_text_) out.push_back(t);
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<SpecialTokens::Match> SpecialTokens::find(std::string_view text,
                                                        std::size_t from) const {
  // Every special reads "<|" name "|>" with no '|' inside the name and at most 24 bytes.
  constexpr std::size_t kMaxLen = 24;
  for (std::size_t i = text.find("<|", from); i != std::string_view::npos;
       i = text.find("<|", i + 1)) {
    // Look for the closing "|>" only within the longest name, so that text full of "<|"
    // stays linear.
    const std::size_t close = text.substr(0, i + kMaxLen).find("|>", i + 2);
    if (close == std::string_view::npos) continue;
    const std::size_t len = close + 2 - i;
    if (auto id = id_of(text.substr(i, len))) return Match{i, len, *id};
  }
  return std::nullopt;
}

const SpecialTokens& special_tokens() {
  static const SpecialTokens table;
  return table;
}

}  // namespace vpmoe::o200k
