#pragma once
// JSON-Schema tool parameters as the TypeScript-like types Harmony shows the model
// (`type f = (_: {...}) => any;`), the same text openai-harmony renders.
#include <string>

#include "harmony/conversation.h"

namespace vpmoe::o200k::harmony {

std::string schema_to_typescript(const Json& schema, const std::string& indent);

}  // namespace vpmoe::o200k::harmony
