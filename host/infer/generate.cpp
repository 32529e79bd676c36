#include "infer/generate.h"

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "data/atomic_file.h"
#include "data/jsonl.h"
#include "infer/score.h"
#include "vpmoe/error.h"

namespace vpmoe::host::infer {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

RenderOptions completion_render() {
  RenderOptions r;
  r.training = false;
  r.pipeline_rules = false;  // any roles and channels a user writes
  r.append_eod = false;
  r.completion = true;  // ends with <|start|>assistant
  return r;
}

Tensor ids_tensor(std::span<const std::int32_t> ids, Device device) {
  std::vector<float> v(ids.begin(), ids.end());
  return Tensor::from_floats(v, {1, std::int64_t(v.size())}, DType::i32, device);
}

}  // namespace

std::vector<std::int32_t> harmony_prompt(const Tokenizer& tok, std::string_view user_text) {
  const nlohmann::json conv = {
      {"messages",
       nlohmann::json::array({{{"role", "user"}, {"content", std::string(user_text)}}})}};
  return harmony_conversation_prompt(tok, conv.dump());
}

std::vector<std::int32_t> harmony_conversation_prompt(const Tokenizer& tok,
                                                      std::string_view conversation_json) {
  return tok.render_conversation(conversation_json, completion_render()).tokens;
}

std::vector<std::int32_t> stop_ids(const Tokenizer& tok) {
  std::vector<std::int32_t> out;
  for (const char* s : {"<|return|>", "<|end|>", "<|call|>"})
    if (auto id = tok.special_token(s)) out.push_back(*id);
  out.push_back(tok.eod_id());
  return out;
}

Completion generate(LoadedModel& m, std::span<const std::int32_t> prompt, const GenerateOptions& o,
                    const std::function<void(std::int32_t)>& on_token) {
  if (o.max_new_tokens < 1)
    throw Error("generate: --max-new-tokens must be >= 1, found " +
                std::to_string(o.max_new_tokens));
  const std::int64_t P = std::int64_t(prompt.size()), ctx_len = m.max_sequence_length();
  if (P < 1) throw Error("generate: the prompt is empty");
  if (P >= ctx_len)
    throw Error("generate: the prompt has " + std::to_string(P) +
                " tokens; the model's context ([attention] max_sequence_length) is " +
                std::to_string(ctx_len) + ", so no token is left to generate");
  for (std::int32_t id : prompt)
    if (id < 0 || id >= m.token_vocab())
      throw Error("generate: prompt token id " + std::to_string(id) +
                  " is outside the vocabulary [0, " + std::to_string(m.token_vocab()) + ")");
  const std::vector<std::int32_t> stops = stop_ids(*m.tokenizer);
  // The cache holds the prompt and every generated token but the last (never fed back).
  const std::int64_t max_len = std::min(ctx_len, P + o.max_new_tokens);
  vpmoe::infer::Sampler sampler(o.sampling);
  Completion c;
  c.prompt_ids.assign(prompt.begin(), prompt.end());
  model::DecodeState state = m.model->make_decode_state(1, max_len);
  const std::int64_t row0 = 0;

  auto t0 = Clock::now();
  Tensor h = m.model->decode(m.context(1, P), ids_tensor(prompt, m.device), state);
  std::vector<float> logits = logits_of_rows(m, h, {&row0, 1});
  c.prefill_s = since(t0);
  t0 = Clock::now();
  bool by_token = false;  // a stop token ended it (it stays in ids, not in text)
  for (;;) {
    const std::int32_t id = sampler.next(logits);
    c.ids.push_back(id);
    if (on_token) on_token(id);
    if (std::find(stops.begin(), stops.end(), id) != stops.end()) {
      c.stop = m.tokenizer->decode_bytes({&id, 1});
      by_token = true;
      break;
    }
    if (std::int64_t(c.ids.size()) >= o.max_new_tokens) {
      c.stop = "max_new_tokens";
      break;
    }
    if (state.position >= ctx_len) {
      c.stop = "max_sequence_length";
      break;
    }
    h = m.model->decode(m.context(1, 1), ids_tensor({&id, 1}, m.device), state);
    logits = logits_of_rows(m, h, {&row0, 1});
  }
  c.decode_s = since(t0);
  c.cache_bytes = state.bytes();
  const std::span<const std::int32_t> ids(c.ids);
  c.text = m.tokenizer->decode_text(ids.first(ids.size() - (by_token ? 1 : 0)), /*lossy=*/true);
  return c;
}

GenerateStats generate_jsonl(LoadedModel& m, const std::string& in, const std::string& out,
                             const GenerateOptions& o) {
  data::JsonlReader reader(in);
  data::AtomicFile file(out);
  GenerateStats st;
  std::string raw;
  std::uint64_t index = 0;
  while (reader.next(raw)) {
    const nlohmann::json j = reader.parse(raw);
    const int kinds =
        int(j.contains("prompt")) + int(j.contains("messages")) + int(j.contains("ids"));
    if (kinds != 1)
      reader.fail(
          "expected exactly one of \"prompt\" (a user turn), \"messages\" (a "
          "conversation) and \"ids\" (a prompt's token ids)");
    std::vector<std::int32_t> prompt;
    try {
      if (j.contains("prompt")) {
        if (!j["prompt"].is_string()) reader.fail("expected \"prompt\" to be a string");
        prompt = harmony_prompt(*m.tokenizer, j["prompt"].get_ref<const std::string&>());
      } else if (j.contains("messages")) {
        prompt = harmony_conversation_prompt(*m.tokenizer,
                                             nlohmann::json{{"messages", j["messages"]}}.dump());
      } else {
        prompt = token_ids(reader, j["ids"], m.token_vocab());
      }
      GenerateOptions lo = o;
      lo.sampling.seed = o.sampling.seed + index++;
      const Completion c = generate(m, prompt, lo);
      nlohmann::ordered_json line = nlohmann::ordered_json::parse(raw);
      for (const char* k : {"prompt_ids", "ids", "text", "stop"}) line.erase(k);
      line["prompt_ids"] = c.prompt_ids;
      line["ids"] = c.ids;
      line["text"] = c.text;
      line["stop"] = c.stop;
      file.out() << line.dump() << "\n";
      st.prompts += 1;
      st.prompt_tokens += std::int64_t(c.prompt_ids.size());
      st.new_tokens += std::int64_t(c.ids.size());
      st.prefill_s += c.prefill_s;
      st.decode_s += c.decode_s;
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.rfind(in + ":", 0) == 0) throw;
      reader.fail(what);
    }
  }
  file.out().flush();
  if (!file.out()) throw Error(out + ": write failed");
  file.commit();
  return st;
}

}  // namespace vpmoe::host::infer
