#pragma once
// GPT training windows from one indexed dataset (spec/data.md §3): the documents of every
// epoch needed, each epoch shuffled with the seed, concatenated into one stream; sample i is
// the seq_len + 1 tokens at stream offset i * seq_len, and samples are visited in a seeded
// permutation of blocks of one epoch's worth. Asking for more samples extends the sequence and
// never reorders its start (a run of N steps is the prefix of one of 2N). PREFIX is either a plain
// dataset (PREFIX.bin/.idx, every label counts) or the Harmony sidecars (PREFIX_tokens +
// PREFIX_lossmask); either may have PREFIX_teacher_logp beside it (float16 bits in a uint16
// dataset, one per token, as `preprocess --format tokens` writes it), and the Harmony layout
// PREFIX_span (uint8 span labels: 0 prompt, 1 analysis, 2 final).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vpmoe/indexed_dataset.h"

namespace vpmoe::host::data {

// Deterministic on every machine (no std:: distributions, whose algorithms are unspecified).
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next();
  std::uint64_t below(std::uint64_t n);  // uniform in [0, n)
 private:
  std::uint64_t s_;
};

// Fisher-Yates with SplitMix64.
template <class T>
void seeded_shuffle(std::vector<T>& v, std::uint64_t seed) {
  SplitMix64 g(seed);
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[g.below(i)]);
}

class GptDataset {
 public:
  GptDataset(const std::string& prefix, std::int64_t seq_len, std::int64_t samples,
             std::uint64_t seed);
  GptDataset(const GptDataset&) = delete;
  GptDataset& operator=(const GptDataset&) = delete;
  ~GptDataset();

  // At least the samples asked for (rounded up to whole blocks).
  std::int64_t samples() const { return std::int64_t(shuffle_.size()); }
  std::int64_t seq_len() const { return seq_len_; }
  int epochs() const { return epochs_; }
  bool has_loss_mask() const { return mask_ != nullptr; }
  bool has_teacher_logp() const { return logp_ != nullptr; }
  bool has_span() const { return span_ != nullptr; }
  const std::string& prefix() const { return prefix_; }
  // The seq_len + 1 tokens of the i-th sample (in shuffled order), their loss mask (all ones
  // without a sidecar), their teacher log-probabilities (NaN without a sidecar) and their span
  // labels (0 without a sidecar); mask, teacher_logp and span may be null.
  void window(std::int64_t i, std::int32_t* tokens, std::uint8_t* mask,
              float* teacher_logp = nullptr, std::uint8_t* span = nullptr) const;
  // "PREFIX sample i (stream tokens [a, b), documents d, ...)": where a window's tokens come
  // from, for a report about a bad batch.
  std::string describe(std::int64_t i) const;
  // Throws naming the file when a .bin/.idx has changed since it was opened
  // (IndexedDatasetReader::check_unchanged).
  void check_unchanged() const;

 private:
  std::string prefix_;
  std::int64_t seq_len_;
  int epochs_ = 1;
  std::unique_ptr<IndexedDatasetReader> tokens_, mask_, logp_, span_;
  std::vector<std::int32_t> doc_order_;  // sequence ids of every epoch, shuffled
  std::vector<std::int64_t> doc_start_;  // stream offset of doc_order_[j]; one past the end
  std::vector<std::int64_t> shuffle_;    // sample permutation
};

}  // namespace vpmoe::host::data
