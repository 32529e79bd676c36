#pragma once
// A weighted blend of GPT datasets (spec/data.md §3.5): weights normalised, global sample i
// taken from the dataset whose share so far is furthest below its weight (Megatron's greedy
// rule), each dataset built with (at least) the samples the blend draws from it. The choice of
// sample i depends on i alone, so a longer blend extends a shorter one.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/gpt_dataset.h"

namespace vpmoe::host::data {

class BlendedDataset {
 public:
  // weights empty = equal; else one positive weight per prefix.
  BlendedDataset(const std::vector<std::string>& prefixes, std::vector<double> weights,
                 std::int64_t seq_len, std::int64_t samples, std::uint64_t seed);
  std::int64_t samples() const { return std::int64_t(which_.size()); }
  bool has_loss_mask() const;
  // Any dataset has a teacher_logp sidecar (the others give NaN: no teacher value).
  bool has_teacher_logp() const;
  // Any dataset has a span sidecar (the others give span 0: prompt, in no span term).
  bool has_span() const;
  void window(std::int64_t i, std::int32_t* tokens, std::uint8_t* mask,
              float* teacher_logp = nullptr, std::uint8_t* span = nullptr) const;
  // The dataset global sample i comes from (an index of datasets()).
  int dataset_of(std::int64_t i) const;
  // "blend sample i: " + its dataset's GptDataset::describe.
  std::string describe(std::int64_t i) const;
  const std::vector<std::unique_ptr<GptDataset>>& datasets() const { return datasets_; }
  // Samples the blend takes from each dataset.
  std::vector<std::int64_t> counts() const;

 private:
  std::vector<std::unique_ptr<GptDataset>> datasets_;
  std::vector<std::int32_t> which_;  // dataset of global sample i
  std::vector<std::int64_t> local_;  // its index within that dataset
  std::vector<std::int64_t> counts_;
};

}  // namespace vpmoe::host::data
