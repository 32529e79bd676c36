#pragma once
// The text of a developer_content part (spec/tokenizer.md §5): instructions, then tools.
#include <string>

#include "harmony/conversation.h"

namespace vpmoe::o200k::harmony {

// Unlike system content, nothing has a default: a missing or null field is omitted.
std::string developer_content_text(const Json& content, std::size_t index);

}  // namespace vpmoe::o200k::harmony
