#include "vpmoe/tokenizer.h"

#include "vpmoe/error.h"
#include "vpmoe/utf8.h"

namespace vpmoe {

std::string Tokenizer::decode_text(std::span<const std::int32_t> ids, bool lossy) const {
  std::string bytes = decode_bytes(ids);
  if (lossy) return utf8_lossy(bytes);
  utf8_require(bytes, "decoded text");
  return bytes;
}

RenderedConversation Tokenizer::render_conversation(std::string_view, const RenderOptions&) const {
  throw Error(identity().name +
              " does not render conversations (a chat tokenizer such as "
              "tokenizer.o200k_harmony does)");
}

}  // namespace vpmoe
