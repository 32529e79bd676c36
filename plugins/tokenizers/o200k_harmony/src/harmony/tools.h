#pragma once
// The "# Tools" section of system and developer content: each tool namespace as the
// TypeScript-like declarations Harmony shows the model.
#include <optional>
#include <string>

#include "harmony/conversation.h"

namespace vpmoe::o200k::harmony {

// The section for a system or developer content part, whose "tools" maps namespace keys to
// {"name", "description"?, "tools": [...]}; nothing when "tools" is missing, null or empty.
// `index` names the message in errors.
std::optional<std::string> tools_section(const Json& content, std::size_t index);
// True when developer content declares a non-empty `functions` namespace (Harmony then adds
// a line to the system message sending those calls to the commentary channel).
bool declares_function_tools(const Json& developer_content);

}  // namespace vpmoe::o200k::harmony
