#pragma once
// Scoring token sequences with a loaded model (vpmoe-host score): for a sequence of n tokens,
// logprobs[t] = log p(token t+1 | tokens 0..t) and argmax[t] = the most likely token after
// tokens 0..t, t < n - 1. log p is normalised over the model's whole (padded) vocabulary, as
// the training loss is (logprob = -CE); argmax ranges over the ids of both the model and the
// tokenizer (LoadedModel::token_vocab).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/jsonl.h"
#include "infer/loader.h"

namespace vpmoe::host::infer {

// A JSON Lines field of token ids (`a`), each in [0, vocab), or "IN.jsonl:LINE: ..." naming
// what was wrong (score's and generate's "ids").
std::vector<std::int32_t> token_ids(const data::JsonlReader& r, const nlohmann::json& a,
                                    std::int64_t vocab);

struct SequenceScores {
  std::vector<float> logprobs;       // n - 1
  std::vector<std::int32_t> argmax;  // n - 1
};

// One batch, each sequence of 2 to max_sequence_length + 1 tokens (n tokens run n - 1
// positions: the last one is only a label, as in a training window), padded on the right to
// the longest. Pads change no real position: attention is causal, and MoE routing is
// per token (top-k of each token's own scores, no capacity or token dropping), so a pad row
// never displaces a real one; only the real rows go through the head.
std::vector<SequenceScores> score_batch(LoadedModel& m,
                                        const std::vector<std::vector<std::int32_t>>& seqs);

// f32 logits on the host, [rows.size(), token_vocab()] row-major, of rows of h (a forward's
// final hidden states, model::GptModel::forward_hidden): e.g. each sequence's last position,
// for greedy or sampled decoding. The same head arithmetic as score's argmax.
std::vector<float> logits_of_rows(LoadedModel& m, const Tensor& h,
                                  std::span<const std::int64_t> rows);

struct ScoreStats {
  std::int64_t sequences = 0, tokens = 0;
  double seconds = 0;  // reading, encoding, the model and writing
};

// IN.jsonl lines {"ids": [...]} or {"text": "..."} (encoded with the tokenizer, Harmony special
// tokens recognised) -> OUT.jsonl, the same lines in order with every field kept and
// "logprobs" and "argmax" added (replaced when present); batch_size lines at a time. Bad input
// stops with "IN.jsonl:LINE: what was expected"; OUT.jsonl is written atomically (nothing
// changes on an error).
ScoreStats score_jsonl(LoadedModel& m, const std::string& in, const std::string& out,
                       std::int64_t batch_size);

}  // namespace vpmoe::host::infer
