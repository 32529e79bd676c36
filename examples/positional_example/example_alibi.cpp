// positional.example_alibi: ALiBi (Press et al.), an additive positional encoding. The
// attention kernel adds -slope[h] * (i - j) to score (i, j); this plugin only supplies the
// fixed per-head slopes 2^(-8 (h+1) / heads), so it has no parameters and no backward.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "vpmoe/config.h"
#include "vpmoe/plugin.h"
#include "vpmoe/positional.h"

namespace {

class ExampleAlibi : public vpmoe::Positional {
 public:
  ExampleAlibi(int heads, vpmoe::Device device) : heads_(heads), device_(device) {}

  Type type() const override { return Type::additive; }
  std::string spec_name() const override { return "positional.example_alibi"; }
  std::vector<vpmoe::Parameter*> parameters() override { return {}; }
  // One add per attention score: seq_len keys for each head (upper bound, causal halves it).
  double flops_per_token(std::int64_t seq_len) const override {
    return static_cast<double>(heads_) * static_cast<double>(seq_len);
  }

  vpmoe::Tensor slopes() const override {
    std::vector<float> s(heads_);
    for (int h = 0; h < heads_; ++h) s[h] = static_cast<float>(std::exp2(-8.0 * (h + 1) / heads_));
    return vpmoe::Tensor::from_floats(s, {heads_}, vpmoe::DType::f32, device_);
  }

 private:
  int heads_;
  vpmoe::Device device_;
};

std::unique_ptr<vpmoe::Positional> build(const vpmoe::BuildArgs& args) {
  if (!args.config)
    throw vpmoe::Error("positional.example_alibi needs the run configuration for the head count");
  int heads = args.config->model.num_attention_heads;
  if (heads <= 0)
    args.config->fail(
        "model.num_attention_heads",
        "positional.example_alibi expects a positive head count, found " + std::to_string(heads));
  return std::make_unique<ExampleAlibi>(heads, args.device);
}

void register_example(vpmoe::Registry& reg) {
  reg.add<vpmoe::Positional>("positional.example_alibi", build);
}

}  // namespace

VPMOE_PLUGIN("example_alibi", "0.1.0", register_example)
