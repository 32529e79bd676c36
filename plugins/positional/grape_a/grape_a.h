#pragma once
// positional.grape_a: additive GRAPE as ALiBi (spec/positional.md). The attention kernel adds
// -slope[h] * max(i - j, 0) to the scaled logits; this module only supplies the slopes.
#include <memory>
#include <vector>

#include "vpmoe/positional.h"
#include "vpmoe/registry.h"

namespace vpmoe::grape_a {

// ALiBi slopes for n heads: r^(h+1) with r = 2^(-8/n) when n is a power of two; otherwise
// the slopes of the largest power of two P < n, then every other slope of the 2P list.
std::vector<double> alibi_slopes(int heads);

class GrapeA final : public Positional {
 public:
  GrapeA(int heads, Device device);
  Type type() const override { return Type::additive; }
  std::string spec_name() const override { return "positional.grape_a"; }
  std::vector<Parameter*> parameters() override { return {}; }
  // One multiply-add per attention score: heads * seq_len keys at most.
  double flops_per_token(std::int64_t seq_len) const override {
    return 2.0 * heads_ * static_cast<double>(seq_len);
  }
  // Fixed slopes, uploaded once: the attention asks for them on every call.
  Tensor slopes() const override { return slopes_; }

 private:
  int heads_;
  Tensor slopes_;
};

std::unique_ptr<Positional> build(const BuildArgs& args);

}  // namespace vpmoe::grape_a
