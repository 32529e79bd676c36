#pragma once
// The o200k_harmony special tokens (ids 199998..201087) and their search in text.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vpmoe::o200k {

class SpecialTokens {
 public:
  SpecialTokens();
  // Id of a special token text; "<|endofprompt|>" and "<|reserved_200018|>" both give 200018.
  std::optional<std::int32_t> id_of(std::string_view text) const;
  // Text of a special id; 200018 decodes as "<|reserved_200018|>" (the Harmony name, which
  // is also what inverting tiktoken's table gives, the later entry winning).
  std::string_view text_of(std::int32_t id) const;
  std::vector<std::string> names() const;  // every accepted text, sorted

  struct Match {
    std::size_t pos = 0, len = 0;
    std::int32_t id = -1;
  };
  // Leftmost special token text at or after `from` (any special, allowed or not).
  std::optional<Match> find(std::string_view text, std::size_t from) const;

 private:
  std::vector<std::string> text_by_id_;  // index id - 199998
  std::unordered_map<std::string, std::int32_t> id_by_text_;
};

const SpecialTokens& special_tokens();

}  // namespace vpmoe::o200k
