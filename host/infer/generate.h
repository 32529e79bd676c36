#pragma once
// Generating from a loaded model (vpmoe-host generate): a Harmony prompt, then one token at a
// time through the KV cache (model::GptModel::decode: the prompt as one prefill, then a step
// per token), each picked by the sampler from the logits of the real token ids. Generation
// stops at a Harmony stop token (<|return|>, <|end|>, <|call|>), at the end-of-document token,
// after max_new_tokens, or when the model's context (max_sequence_length) is full.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "infer/loader.h"
#include "infer/sampler.h"

namespace vpmoe::host::infer {

struct GenerateOptions {
  vpmoe::infer::SamplingOptions sampling;
  std::int64_t max_new_tokens = 256;
};

struct Completion {
  std::vector<std::int32_t> prompt_ids;
  std::vector<std::int32_t> ids;  // the generated tokens, the stop token included
  std::string text;               // ids decoded (lossy UTF-8), the stop token left out
  // Why it ended: the stop token's text, "max_new_tokens" or "max_sequence_length".
  std::string stop;
  double prefill_s = 0, decode_s = 0;  // the prompt's prefill; the steps after it
  std::int64_t cache_bytes = 0;        // the KV cache held (model::DecodeState::bytes)
};

// A user turn rendered as Harmony's completion prompt: ...<|start|>user<|message|>TEXT<|end|>
// <|start|>assistant (render_conversation with completion = true, no EOD).
std::vector<std::int32_t> harmony_prompt(const Tokenizer& tok, std::string_view user_text);
// A whole conversation ({"messages": [...]}, JSON text) rendered the same way.
std::vector<std::int32_t> harmony_conversation_prompt(const Tokenizer& tok,
                                                      std::string_view conversation_json);
// The ids generation stops at: <|return|>, <|end|>, <|call|> (those the tokenizer has) and EOD.
std::vector<std::int32_t> stop_ids(const Tokenizer& tok);

// on_token, when given, sees each generated id as soon as it is picked (streaming).
Completion generate(LoadedModel& m, std::span<const std::int32_t> prompt, const GenerateOptions& o,
                    const std::function<void(std::int32_t)>& on_token = {});

struct GenerateStats {
  std::int64_t prompts = 0, prompt_tokens = 0, new_tokens = 0;
  double prefill_s = 0, decode_s = 0;
};

// IN.jsonl lines {"prompt": "..."} (a user turn), {"messages": [...]} (a conversation) or
// {"ids": [...]} (a prompt as it is) -> OUT.jsonl, the same lines in order with every field
// kept and "prompt_ids", "ids", "text" and "stop" added. Bad input stops with
// "IN.jsonl:LINE: ..."; OUT.jsonl is written atomically. Each prompt's sampler is seeded with
// the seed plus its line's index, so a line's completion does not depend on the lines before.
GenerateStats generate_jsonl(LoadedModel& m, const std::string& in, const std::string& out,
                             const GenerateOptions& o);

}  // namespace vpmoe::host::infer
