#include "data/blended_dataset.h"

#include "vpmoe/error.h"

namespace vpmoe::host::data {

BlendedDataset::BlendedDataset(const std::vector<std::string>& prefixes,
                               std::vector<double> weights, std::int64_t seq_len,
                               std::int64_t samples, std::uint64_t seed) {
  if (prefixes.empty()) throw Error("blend: no dataset paths");
  if (weights.empty()) weights.assign(prefixes.size(), 1.0);
  if (weights.size() != prefixes.size())
    throw Error("blend: " + std::to_string(weights.size()) + " weights for " +
                std::to_string(prefixes.size()) + " dataset paths (expected one per path)");
  double sum = 0;
  for (double w : weights) {
    if (!(w > 0)) throw Error("blend: every weight must be > 0, found " + std::to_string(w));
    sum += w;
  }
  for (double& w : weights) w /= sum;
  const std::size_t D = prefixes.size();
  std::vector<std::int64_t> count(D, 0);
  which_.resize(std::size_t(samples));
  local_.resize(std::size_t(samples));
  for (std::int64_t i = 0; i < samples; ++i) {
    std::size_t best = 0;
    double best_gap = -1e300;
    for (std::size_t d = 0; d < D; ++d) {
      const double gap = weights[d] * double(i + 1) - double(count[d]);
      if (gap > best_gap) best_gap = gap, best = d;
    }
    which_[std::size_t(i)] = std::int32_t(best);
    local_[std::size_t(i)] = count[best]++;
  }
  counts_ = count;
  // Each dataset gets its own seed so two paths of the same data are not shuffled alike.
  for (std::size_t d = 0; d < D; ++d)
    datasets_.push_back(std::make_unique<GptDataset>(prefixes[d], seq_len, count[d],
                                                     seed + 0x632be59bd9b4e019ull * (d + 1)));
}

bool BlendedDataset::has_loss_mask() const {
  for (const auto& d : datasets_)
    if (d->has_loss_mask()) return true;
  return false;
}

bool BlendedDataset::has_teacher_logp() const {
  for (const auto& d : datasets_)
    if (d->has_teacher_logp()) return true;
  return false;
}

bool BlendedDataset::has_span() const {
  for (const auto& d : datasets_)
    if (d->has_span()) return true;
  return false;
}

std::vector<std::int64_t> BlendedDataset::counts() const {
  return counts_;
}

int BlendedDataset::dataset_of(std::int64_t i) const {
  if (i < 0 || i >= samples())
    throw Error("blend: sample " + std::to_string(i) + " out of range [0, " +
                std::to_string(samples()) + ")");
  return which_[std::size_t(i)];
}

void BlendedDataset::window(std::int64_t i, std::int32_t* tokens, std::uint8_t* mask,
                            float* teacher_logp, std::uint8_t* span) const {
  datasets_[std::size_t(dataset_of(i))]->window(local_[std::size_t(i)], tokens, mask, teacher_logp,
                                                span);
}

std::string BlendedDataset::describe(std::int64_t i) const {
  return "blend sample " + std::to_string(i) + ": " +
         datasets_[std::size_t(dataset_of(i))]->describe(local_[std::size_t(i)]);
}

}  // namespace vpmoe::host::data
