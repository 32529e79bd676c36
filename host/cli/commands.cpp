// The command table: one line per command.
#include "cli/cli.h"

namespace vpmoe::host::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"plugins", "list every registered spec name: kind, plugin file, plugin name, version",
       run_plugins},
      {"tokenize", "encode JSON Lines of text to token ids, or count the tokens of a file",
       run_tokenize},
      {"detokenize", "decode JSON Lines of token ids back to text", run_detokenize},
      {"preprocess",
       "JSON Lines (text, Harmony conversations or token ids) -> Megatron .bin/.idx datasets",
       run_preprocess},
      {"synth-arithmetic", "write synthetic Harmony arithmetic conversations (the tiny data)",
       run_synth_arithmetic},
      {"plot", "draw a run's loss and throughput curves (metrics.jsonl) as a PNG", run_plot},
      {"checkpoint", "verify a checkpoint's files against their sha256, or inspect what it holds",
       run_checkpoint},
      {"score", "per token of JSON Lines sequences: a checkpoint's log-probability and argmax",
       run_score},
      {"evaluate", "a checkpoint's loss and perplexity on datasets, overall and per span (JSON)",
       run_evaluate},
      {"generate", "text from a checkpoint: a Harmony prompt, sampled through the KV cache",
       run_generate},
  };
  return table;
}

}  // namespace vpmoe::host::cli
