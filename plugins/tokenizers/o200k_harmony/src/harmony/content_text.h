#pragma once
// The text of system and developer content parts (spec/tokenizer.md §5), tools included.
#include <string>

#include "harmony/conversation.h"

namespace vpmoe::o200k::harmony {

// A missing field takes openai-harmony's default for a new SystemContent; null omits it.
// `function_tools`: the conversation's developer message declares `functions` tools, which
// adds the line telling the model to call them on the commentary channel.
std::string system_content_text(const Json& content, bool function_tools, std::size_t index);
std::string developer_content_text(const Json& content, std::size_t index);
// True when this developer content has a non-empty `functions` namespace.
bool declares_function_tools(const Json& developer_content);

}  // namespace vpmoe::o200k::harmony
