#pragma once
// Harmony (GPT-OSS chat format) rendering of one conversation into tokens, loss mask and span.
#include <string_view>

#include "vpmoe/tokenizer.h"

namespace vpmoe::o200k {

RenderedConversation render_harmony(const Tokenizer& tok, std::string_view conversation_json,
                                    const RenderOptions& options);

}  // namespace vpmoe::o200k
