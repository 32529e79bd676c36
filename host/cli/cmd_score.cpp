// vpmoe-host score --checkpoint DIR --input IN.jsonl --output OUT.jsonl: per token, the
// log-probability the model gives it after the tokens before it, and the model's most likely
// token there (infer/score.h).
#include <cstdio>
#include <iostream>

#include "infer/score.h"
#include "vpmoe/device.h"
#include "vpmoe/log.h"

#include "cli/cli.h"
#include "cli/infer_options.h"

namespace vpmoe::host::cli {

int run_score(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("score options");
  InferArgs ia;
  std::string input, output;
  std::int64_t batch = 8;
  add_infer_options(desc, ia);
  desc.add_options()("input,i", po::value(&input)->value_name("IN.jsonl"),
                     "one {\"ids\": [...]} or {\"text\": \"...\"} per line (other fields are "
                     "copied to the output)")(
      "output,o", po::value(&output)->value_name("OUT.jsonl"),
      "the input lines with \"logprobs\" and \"argmax\" (n - 1 each) added")(
      "batch-size", po::value(&batch)->value_name("N"), "sequences per forward (default 8)");
  add_common_options(desc, common);
  parse_command_args(args, desc, common);
  if (common.help) {
    std::cout << "Usage: vpmoe-host score --checkpoint DIR --input IN.jsonl --output OUT.jsonl "
                 "[--batch-size N] [--config RUN.toml] [--device D]\n\n"
              << desc
              << "\nlogprobs[t] = log p(token t+1 | tokens 0..t) over the whole (padded) "
                 "vocabulary, as the training loss;\nargmax[t] = the most likely token after "
                 "tokens 0..t. Text is encoded with the checkpoint's tokenizer\n(Harmony special "
                 "tokens such as <|start|> recognised). docs/inference.md has the details.\n";
    return kExitOk;
  }
  const infer::InferOptions o = infer_options(ia, common, "score");
  if (input.empty() || output.empty()) throw UsageError("score: --input and --output are required");
  if (batch < 1) throw UsageError("score: --batch-size must be >= 1");
  infer::LoadedModel m = infer::load_for_inference(o);
  log::info("score: " + m.dir + " (step " + std::to_string(m.step) + ") on " +
            device_name(m.device) + (m.bf16 ? ", bf16 compute" : ", fp32"));
  const infer::ScoreStats st = infer::score_jsonl(m, input, output, batch);
  char rate[160];
  std::snprintf(rate, sizeof rate, "%lld sequence(s), %lld tokens in %.2f s (%.0f tokens/s)",
                static_cast<long long>(st.sequences), static_cast<long long>(st.tokens), st.seconds,
                st.seconds > 0 ? double(st.tokens) / st.seconds : 0.0);
  log::info("score: " + std::string(rate) + " -> " + output);
  return kExitOk;
}

}  // namespace vpmoe::host::cli
