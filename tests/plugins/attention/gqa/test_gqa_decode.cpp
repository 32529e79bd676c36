// attention.gqa decode: the K/V cache against the training forward (causal with GRAPE-A's
// ALiBi at absolute distances, a window, RoPE-style rotation at absolute positions, the value
// residual), its size, and the default decode API's error for a plugin without one.
#include "decode_checks.h"
#include "gqa_attention.h"
#include "grape_a.h"
#include "rotary_positional.h"

namespace vpmoe::testing {
namespace {

std::unique_ptr<Attention> gqa_layer(const Config& c, int layer, const std::string& pos,
                                     bool global = true) {
  BuildArgs a = attention_args(c, layer, global, nullptr);
  if (pos == "alibi") a.positional = std::shared_ptr<Positional>(grape_a::build(a));
  if (pos == "rope") a.positional = std::shared_ptr<Positional>(rotary::build_rope(a));
  return attention::build_gqa(a);
}

TEST(GqaDecode, KvCacheMatchesTheForward) {
  std::uint32_t seed = 60;
  for (const char* pos : {"alibi", "rope", "none"})
    for (int layer : {1, 4})
      for (std::int64_t prefill : {1, 4, 9}) {
        const Config c = attention_config();
        auto m = gqa_layer(c, layer, pos);
        check_decode_matches_forward(*m, 2, 9, 32, 2, 8, layer, true, prefill, seed++);
      }
}

TEST(GqaDecode, WindowedAndVariantsMatchTheForward) {
  {
    const Config c = attention_config("softmax_type = \"off-by-one\"\n", 3);
    auto m = gqa_layer(c, 2, "alibi", /*global=*/false);  // a windowed GQA layer
    check_decode_matches_forward(*m, 2, 10, 32, 2, 8, 2, true, 2, 70);
  }
  {
    const Config c = attention_config("softmax_type = \"vanilla\"\nvalue_residual = false\n");
    auto m = gqa_layer(c, 3, "rope");
    check_decode_matches_forward(*m, 1, 7, 32, 2, 8, 3, false, 3, 71);
  }
}

TEST(GqaDecode, KvCacheSizeAndNoV1History) {
  const Config c = attention_config();
  auto m = gqa_layer(c, 4, "alibi");
  auto cache = m->make_cache(2, 50);
  EXPECT_EQ(cache->bytes(), 2 * 50 * 2 * 2 * 8 * 4) << "k and v, [B, max_len, ng, d] f32";
  EXPECT_EQ(cache->v1_history(), 0) << "v is cached after the mix";
  EXPECT_THROW(m->make_cache(0, 5), Error);
}

// A plugin that implements only the training interface gets a clear decode error.
TEST(GqaDecode, DefaultDecodeApiNamesThePlugin) {
  struct TrainingOnly final : Attention {
    std::string spec_name() const override { return "attention.training_only"; }
    std::vector<Parameter*> parameters() override { return {}; }
    double flops_per_token(std::int64_t) const override { return 0; }
    Tensor forward(const Context&, const Tensor& x, ValueResidualState*) override { return x; }
    Tensor backward(const Context&, const Tensor& dy, ValueResidualState*) override { return dy; }
  } m;
  try {
    m.make_cache(1, 4);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attention.training_only"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("decode"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vpmoe::testing
