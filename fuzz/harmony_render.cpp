// libFuzzer target for the Harmony conversation reader: JSON text -> parse_conversation ->
// rendered tokens (render_conversation of tokenizer.o200k_harmony). The first input byte holds
// the RenderOptions (bit 0 training, 1 pipeline_rules, 2 append_eod, 3 completion,
// 4 drop_analysis); the rest is the conversation JSON. It either renders, and then the tokens,
// loss mask and span have one entry per token, every id is in the vocabulary, the mask and
// span take their documented values and the tokens decode; or it throws vpmoe::Error
// ("conversation..."). Any other exception, a crash, UB or a leak is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_common.h"
#include "o200k_tokenizer.h"
#include "vpmoe/error.h"

using vpmoe::o200k::O200kHarmony;

namespace {

const char* const kTarget = "fuzz_harmony_render";

const O200kHarmony& tok() {
  static const auto t = [] {
    const char* env = std::getenv("VPMOE_TOKENIZER_ASSET");
    return O200kHarmony::load(env ? env : VPMOE_DEFAULT_ASSET);
  }();
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  vpmoe::RenderOptions o;
  o.training = data[0] & 1;
  o.pipeline_rules = data[0] & 2;
  o.append_eod = data[0] & 4;
  o.completion = data[0] & 8;
  o.drop_analysis = data[0] & 16;
  const std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  vpmoe::RenderedConversation r;
  try {
    r = tok().render_conversation(json, o);
  } catch (const vpmoe::Error& e) {
    if (std::string(e.what()).rfind("conversation", 0) != 0)
      vpmoe::fuzz::bug(kTarget, std::string("an error not naming the conversation: ") + e.what());
    return 0;
  } catch (const std::exception& e) {
    vpmoe::fuzz::bug(kTarget, std::string("an exception other than vpmoe::Error: ") + e.what());
  }
  if (r.tokens.empty() || r.loss_mask.size() != r.tokens.size() || r.span.size() != r.tokens.size())
    vpmoe::fuzz::bug(kTarget, "tokens, loss mask and span differ in length (or are empty)");
  for (std::size_t i = 0; i < r.tokens.size(); ++i) {
    if (r.tokens[i] < 0 || r.tokens[i] >= tok().vocab_size())
      vpmoe::fuzz::bug(kTarget,
                       "a token id outside the vocabulary: " + std::to_string(r.tokens[i]));
    if (r.loss_mask[i] > 1 || r.span[i] > 2 || (r.span[i] && !r.loss_mask[i]))
      vpmoe::fuzz::bug(kTarget, "a loss mask or span value outside its range");
  }
  if (o.append_eod && r.tokens.back() != tok().eod_id())
    vpmoe::fuzz::bug(kTarget, "append_eod did not end in EOD");
  try {
    (void)tok().decode_bytes(r.tokens);
  } catch (const std::exception& e) {
    vpmoe::fuzz::bug(kTarget, std::string("rendered tokens do not decode: ") + e.what());
  }
  return 0;
}
