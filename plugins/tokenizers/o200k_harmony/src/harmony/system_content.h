#pragma once
// The text of a system_content part (spec/tokenizer.md §5): identity and dates, reasoning
// effort, tools, valid channels.
#include <string>

#include "harmony/conversation.h"

namespace vpmoe::o200k::harmony {

// A missing field takes openai-harmony's default for a new SystemContent (as its Python
// package does when it reads a dict); a null field is omitted. `function_tools`: some
// developer message of the conversation declares `functions` tools, which adds the line
// sending those calls to the commentary channel. `index` names the message in errors.
std::string system_content_text(const Json& content, bool function_tools, std::size_t index);

}  // namespace vpmoe::o200k::harmony
