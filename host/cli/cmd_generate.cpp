// vpmoe-host generate --checkpoint DIR (--prompt TEXT | --conversation FILE.json |
// --input IN.jsonl --output OUT.jsonl): text from a checkpoint through the KV cache
// (infer/generate.h), streamed as it comes, or as JSON.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "infer/generate.h"
#include "vpmoe/device.h"
#include "vpmoe/error.h"
#include "vpmoe/log.h"
#include "vpmoe/utf8.h"

#include "cli/cli.h"
#include "cli/infer_options.h"

namespace vpmoe::host::cli {
namespace {

// Prints token bytes as they come, holding back an incomplete UTF-8 sequence at the end
// until its next bytes arrive (a token may end inside a character).
class Utf8Printer {
 public:
  void add(const std::string& bytes) {
    pending_ += bytes;
    const auto bad = utf8_first_invalid(pending_);
    if (bad && pending_.size() - *bad < 4) {
      std::cout << pending_.substr(0, *bad);
      pending_.erase(0, *bad);
    } else {
      std::cout << utf8_lossy(pending_);
      pending_.clear();
    }
    std::cout.flush();
  }
  void finish() {
    std::cout << utf8_lossy(pending_) << "\n";
    pending_.clear();
    std::cout.flush();
  }

 private:
  std::string pending_;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot read the conversation file");
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string rate(std::int64_t n, double s) {
  return std::to_string(s > 0 ? double(n) / s : 0.0);
}

}  // namespace

int run_generate(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("generate options");
  InferArgs ia;
  std::string prompt, conversation, input, output;
  infer::GenerateOptions g;
  bool json = false;
  add_infer_options(desc, ia);
  desc.add_options()("prompt,p", po::value(&prompt)->value_name("TEXT"),
                     "a user turn, rendered as a Harmony prompt ending <|start|>assistant")(
      "conversation", po::value(&conversation)->value_name("FILE.json"),
      "a conversation {\"messages\": [...]}, rendered the same way")(
      "input,i", po::value(&input)->value_name("IN.jsonl"),
      "one {\"prompt\": ...}, {\"messages\": [...]} or {\"ids\": [...]} per line (other fields "
      "are copied to the output)")(
      "output,o", po::value(&output)->value_name("OUT.jsonl"),
      "the input lines with \"prompt_ids\", \"ids\", \"text\" and \"stop\" added")(
      "max-new-tokens", po::value(&g.max_new_tokens)->value_name("N"),
      "tokens to generate at most (default 256)")(
      "temperature", po::value(&g.sampling.temperature)->value_name("T"), "0 = greedy (default 1)")(
      "top-p", po::value(&g.sampling.top_p)->value_name("P"),
      "nucleus: the smallest set of mass >= P (default 1: off)")(
      "top-k", po::value(&g.sampling.top_k)->value_name("K"),
      "the K most likely only (default 0: off)")(
      "seed", po::value(&g.sampling.seed)->value_name("S"), "sampling seed (default 0)")(
      "json", po::bool_switch(&json),
      "print one object {\"prompt_ids\", \"ids\", \"text\", \"stop\"} instead of streaming text");
  add_common_options(desc, common);
  parse_command_args(args, desc, common);
  if (common.help) {
    std::cout << "Usage: vpmoe-host generate --checkpoint DIR (--prompt TEXT | --conversation "
                 "FILE.json | --input IN.jsonl --output OUT.jsonl)\n"
                 "                           [--max-new-tokens N] [--temperature T] [--top-p P] "
                 "[--top-k K] [--seed S] [--json]\n\n"
              << desc
              << "\nGeneration stops at <|return|>, <|end|>, <|call|> or the end-of-document "
                 "token (the stop token is the\nlast id, not in the text), after "
                 "--max-new-tokens, or when the model's context is full. Decode speed goes\n"
                 "to the log. docs/inference.md has the details.\n";
    return kExitOk;
  }
  const int sources = int(!prompt.empty()) + int(!conversation.empty()) + int(!input.empty());
  if (sources != 1)
    throw UsageError("generate: give exactly one of --prompt, --conversation and --input");
  if (input.empty() != output.empty())
    throw UsageError("generate: --input and --output go together");
  if (g.max_new_tokens < 1) throw UsageError("generate: --max-new-tokens must be >= 1");
  try {
    vpmoe::infer::validate(g.sampling);
  } catch (const Error& e) {
    throw UsageError(std::string("generate: ") + e.what());
  }
  const infer::InferOptions o = infer_options(ia, common, "generate");
  infer::LoadedModel m = infer::load_for_inference(o);
  log::info("generate: " + m.dir + " (step " + std::to_string(m.step) + ") on " +
            device_name(m.device) + (m.bf16 ? ", bf16 compute" : ", fp32"));

  if (!input.empty()) {
    const infer::GenerateStats st = infer::generate_jsonl(m, input, output, g);
    log::info("generate: " + std::to_string(st.prompts) + " prompt(s), " +
              std::to_string(st.prompt_tokens) + " prompt tokens (prefill " +
              rate(st.prompt_tokens, st.prefill_s) + " tokens/s), " +
              std::to_string(st.new_tokens) + " new tokens (decode " +
              rate(st.new_tokens, st.decode_s) + " tokens/s) -> " + output);
    return kExitOk;
  }
  const std::vector<std::int32_t> ids =
      prompt.empty() ? infer::harmony_conversation_prompt(*m.tokenizer, read_file(conversation))
                     : infer::harmony_prompt(*m.tokenizer, prompt);
  Utf8Printer printer;
  const std::vector<std::int32_t> stops = infer::stop_ids(*m.tokenizer);
  auto stream = [&](std::int32_t id) {
    if (std::find(stops.begin(), stops.end(), id) == stops.end())
      printer.add(m.tokenizer->decode_bytes({&id, 1}));
  };
  const infer::Completion c =
      infer::generate(m, ids, g, json ? std::function<void(std::int32_t)>() : stream);
  if (json) {
    nlohmann::ordered_json j;
    j["prompt_ids"] = c.prompt_ids;
    j["ids"] = c.ids;
    j["text"] = c.text;
    j["stop"] = c.stop;
    std::cout << j.dump() << std::endl;
  } else {
    printer.finish();
  }
  log::info("generate: prompt " + std::to_string(c.prompt_ids.size()) + " tokens (prefill " +
            rate(std::int64_t(c.prompt_ids.size()), c.prefill_s) + " tokens/s), " +
            std::to_string(c.ids.size()) + " new tokens (decode " +
            rate(std::int64_t(c.ids.size()), c.decode_s) + " tokens/s), stop " + c.stop +
            ", KV cache " + std::to_string(c.cache_bytes) + " bytes");
  return kExitOk;
}

}  // namespace vpmoe::host::cli
