#pragma once
// Picks the next token from one row of logits, as Megatron's text generation and the
// openai-harmony samplers do: temperature 0 is greedy (the first maximum); otherwise the logits
// are divided by the temperature, cut to the top_k most likely (0: no cut), then to the
// smallest set whose probability reaches top_p (1: no cut), and one token is drawn from what is
// left with the sampler's own seeded generator (the same seed gives the same tokens on any
// device, given the same logits).
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace vpmoe::infer {

struct SamplingOptions {
  double temperature = 1.0;  // >= 0; 0 = greedy
  double top_p = 1.0;        // (0, 1]
  std::int64_t top_k = 0;    // >= 0; 0 = all
  std::uint64_t seed = 0;
};

// Throws vpmoe::Error naming the option when a value is out of range.
void validate(const SamplingOptions& o);

// Index of the first maximum; NaN never wins. logits must not be empty.
std::int32_t argmax(std::span<const float> logits);

class Sampler {
 public:
  explicit Sampler(SamplingOptions o);
  // logits over the real token ids (no padded rows).
  std::int32_t next(std::span<const float> logits);
  // The probabilities next() draws from, after temperature, top-k and top-p (the test's view).
  std::vector<double> distribution(std::span<const float> logits) const;

 private:
  SamplingOptions o_;
  std::mt19937_64 rng_;
};

}  // namespace vpmoe::infer
