// Placeholder until the Harmony renderer lands (being written now); replace this file.
#include "harmony/render.h"

#include "vpmoe/error.h"

namespace vpmoe::o200k {

RenderedConversation render_harmony(const Tokenizer&, std::string_view, const RenderOptions&) {
  throw Error("Harmony rendering: not built yet");
}

}  // namespace vpmoe::o200k
