// attention.tpa decode: the factor ring against the training forward (windows smaller than the
// sequence so the ring wraps, several prefills, value residual from v1_past, GRAPE-M at
// absolute positions), and the cache's size against a plain K/V cache of the window.
#include "decode_checks.h"
#include "rotary_positional.h"
#include "tpa_attention.h"

namespace vpmoe::testing {
namespace {

std::unique_ptr<Attention> tpa_layer(const Config& c, int layer, bool grape = true) {
  BuildArgs a = attention_args(c, layer, false, nullptr);
  if (grape) a.positional = std::shared_ptr<Positional>(rotary::build_grape_m(a));
  return attention::build_tpa(a);
}

TEST(TpaDecode, FactorRingMatchesTheForward) {
  // window 3, T 11: the ring wraps three times; head_dim 8, 4 heads, 2 groups, ranks 3 and 2.
  std::uint32_t seed = 40;
  for (int layer : {1, 2})
    for (std::int64_t prefill : {1, 2, 3, 5, 11}) {
      const Config c = attention_config();
      auto m = tpa_layer(c, layer);
      check_decode_matches_forward(*m, 2, 11, 32, 2, 8, layer, true, prefill, seed++);
    }
}

TEST(TpaDecode, VariantsMatchTheForward) {
  {
    const Config c = attention_config(
        "softmax_type = \"off-by-one\"\nvalue_residual = false\nqk_layernorm = false\n", 4);
    auto m = tpa_layer(c, 3);
    check_decode_matches_forward(*m, 1, 9, 32, 2, 8, 3, false, 2, 50);
  }
  {
    const Config c = attention_config("softmax_type = \"vanilla\"\nadd_qkv_bias = false\n", 1);
    auto m = tpa_layer(c, 2, false);
    check_decode_matches_forward(*m, 2, 6, 32, 2, 8, 2, true, 3, 51);
  }
}

// Per token and layer the cache holds the k and v factors a [ng, R] and b [R, d] of the
// window's tokens: (2 ng R + 2 R d) values against 2 ng d for k and v themselves.
TEST(TpaDecode, FactorCacheHoldsTheWindowsFactors) {
  const Config c = parse_config(
      "[model]\nnum_layers = 80\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\n[attention]\nwindow_size = 128\n"
      "[tpa]\ntpa_rank = 2\ntpa_q_rank = 4\n",
      "locked.toml");
  auto m = tpa_layer(c, 2, false);
  const std::int64_t B = 3, W = 128, ng = 2, R = 2, d = 128, f32 = 4;
  auto cache = m->make_cache(B, 4096);
  const std::int64_t factors = B * W * (2 * ng * R + 2 * R * d) * f32;
  const std::int64_t plain_kv = B * W * 2 * ng * d * f32;
  EXPECT_EQ(cache->bytes(), factors);
  EXPECT_EQ(factors, 266240 * B) << "1040 f32 values per token";
  EXPECT_EQ(plain_kv, 262144 * B) << "1024 f32 values per token";
  EXPECT_EQ(cache->v1_history(), W) << "layer 2 mixes with layer 1's values of the window";
  EXPECT_EQ(tpa_layer(c, 1, false)->make_cache(B, 4096)->v1_history(), 0);
  // Shorter than the window: max_len slots.
  EXPECT_EQ(m->make_cache(1, 10)->bytes(), 10 * (2 * ng * R + 2 * R * d) * f32);
}

TEST(TpaDecode, CacheOfAnotherLayerKindIsRejected) {
  const Config c = attention_config();
  auto m = tpa_layer(c, 1);
  struct Other final : AttentionCache {
    std::int64_t bytes() const override { return 0; }
  } other;
  Context ctx{Device::cpu(), 1, 1, false};
  EXPECT_THROW(m->forward_cached(ctx, Tensor::zeros({1, 32}, DType::f32), other, nullptr), Error);
}

}  // namespace
}  // namespace vpmoe::testing
