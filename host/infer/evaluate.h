#pragma once
// Evaluating a loaded model on preprocessed datasets (vpmoe-host evaluate): the loss-masked
// mean cross-entropy and its perplexity, overall, per span (reasoning = analysis labels, final =
// final-answer labels, where the datasets carry PREFIX_span) and per dataset. Each dataset is
// read as training's validation reads it: windows of [attention] max_sequence_length + 1
// tokens over the stream of its documents, one epoch's worth (every token once, the last
// partial window left out), in the validation order (seed [run] seed + 1), the labels shifted
// with their loss mask and span; the forward is the trainer's evaluation forward
// (GptModel::run_weighted without backward). So the first k batches of micro_batch_size of a
// dataset give exactly the trainer's valid_loss over eval_iters x global batch of it.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infer/loader.h"

namespace vpmoe::host::infer {

struct EvalOptions {
  std::vector<std::string> data;  // dataset prefixes (PREFIX.bin/.idx or PREFIX_tokens + ...)
  std::int64_t batch_size = 0;    // sequences per forward; 0 = [train] micro_batch_size
  std::int64_t max_batches = 0;   // per dataset; 0 = every window of one epoch
};

struct LossSum {
  double loss = 0;    // sum of the labels' CE x mask
  double tokens = 0;  // sum of the mask (labels that count)
  void add(double l, double w) { loss += l * w, tokens += w; }
  void add(const LossSum& o) { loss += o.loss, tokens += o.tokens; }
};

struct DatasetEval {
  std::int64_t sequences = 0;
  bool has_span = false;
  LossSum all, reasoning, final;
};

struct EvalResult {
  std::vector<std::pair<std::string, DatasetEval>> datasets;  // in the order given
  DatasetEval total;  // summed over the datasets (token-weighted)
};

EvalResult evaluate(LoadedModel& m, const EvalOptions& o);

// {"checkpoint", "step", "seq_length", "sequences", "tokens", "loss", "perplexity",
//  "spans": {"reasoning": {...}, "final": {...}} (with span labels), "datasets": {PREFIX: ...}};
// loss and perplexity are null for no tokens.
nlohmann::ordered_json eval_json(const LoadedModel& m, const EvalResult& r);

}  // namespace vpmoe::host::infer
