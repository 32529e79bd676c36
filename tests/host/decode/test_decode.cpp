// Incremental decode of whole models on the CPU (fp32): the logits of a prefill of p tokens
// and one-token steps equal the training forward's at every position, to float rounding, for
// configs/tiny.toml (T = 40 > 2 x window 16: the TPA rings wrap) and for variants of its
// positional, softmax and value-residual options; batch 2; several prefill splits. Also: the
// decode state's size, its max_len error, and that decode leaves the MoE state alone.
#include "decode_fixture.h"
#include "moe/moe_layer.h"

namespace vpmoe::testing {
namespace {

using host::train::build_model;
using host::train::ModelTarget;

const Variant kVariants[] = {
    {"tiny"},
    {"rope, off-by-one", "positional.rope", "positional.rope", "off-by-one"},
    {"grape-m global, vanilla, no value residual", "positional.grape_m", "positional.grape_m",
     "vanilla", false},
    {"two global layers", "positional.grape_m", "positional.grape_a", "learnable", true, 2},
};

TEST(Decode, LogitsEqualTheTrainingForwardAtEveryPosition) {
  const Registry reg = in_tree_plugins();
  std::uint32_t seed = 1;
  for (const Variant& v : kVariants) {
    const Config c = decode_config(v);
    auto m = build_model(c, reg, ModelTarget{Device::cpu(), false, 1234});
    spread_parameters(*m, seed++);
    std::mt19937 g(seed++);
    const std::int64_t B = 2, T = 40, W = c.attention.window_size;
    const Tensor ids = random_ids(g, B, T, c.tokenizer.vocab_size, Device::cpu());
    const Logits want = forward_logits(*m, ids, Device::cpu());
    for (std::int64_t p : {std::int64_t(1), W - 1, W + 3}) {
      const Logits got = decode_logits(*m, ids, p, Device::cpu());
      EXPECT_LT(rel_diff(got, want, B, p - 1), 1e-5) << v.name << ", prefill " << p;
      // Token for token: the decoded argmax is the forward's.
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t t = p - 1; t < T; ++t) {
          const float* x = got.row(b, t);
          const float* y = want.row(b, t);
          EXPECT_EQ(std::max_element(x, x + got.V) - x, std::max_element(y, y + want.V) - y)
              << v.name << ", prefill " << p << ", row " << b << "," << t;
        }
    }
  }
}

TEST(Decode, BatchOfOneIsEachSequenceAlone) {
  const Registry reg = in_tree_plugins();
  const Config c = decode_config(kVariants[0]);
  auto m = build_model(c, reg, ModelTarget{Device::cpu(), false, 1234});
  spread_parameters(*m, 9);
  std::mt19937 g(10);
  const Tensor ids = random_ids(g, 2, 20, c.tokenizer.vocab_size, Device::cpu());
  const Logits both = decode_logits(*m, ids, 3, Device::cpu());
  for (std::int64_t b = 0; b < 2; ++b) {
    const Logits one = decode_logits(*m, ids.slice(b, b + 1).clone(), 3, Device::cpu());
    double worst = 0;
    for (std::int64_t t = 2; t < 20; ++t)
      for (std::int64_t v = 0; v < one.V; ++v)
        worst = std::max(worst, double(std::abs(one.row(0, t)[v] - both.row(b, t)[v])));
    EXPECT_LT(worst, 1e-5) << "sequence " << b;
  }
}

TEST(Decode, StateSizeMaxLenAndNoMoeSideEffects) {
  const Registry reg = in_tree_plugins();
  const Config c = decode_config(kVariants[0]);
  auto m = build_model(c, reg, ModelTarget{Device::cpu(), false, 1234});
  // tiny: hidden 64, 4 heads, 2 groups, head_dim 16, window 16, ranks 2; layers 1-3 TPA
  // (factor rings of 16 slots), layer 4 GQA (k, v of max_len tokens), v1 of max_len tokens.
  const std::int64_t B = 2, L = 50, ng = 2, d = 16, R = 2, W = 16, f32 = 4;
  model::DecodeState s = m->make_decode_state(B, L);
  ASSERT_EQ(s.caches.size(), 4u);
  for (int l = 0; l < 3; ++l)
    EXPECT_EQ(s.caches[std::size_t(l)]->bytes(), B * W * (2 * ng * R + 2 * R * d) * f32) << l;
  EXPECT_EQ(s.caches[3]->bytes(), B * L * 2 * ng * d * f32);
  EXPECT_TRUE(s.keep_v1);
  std::mt19937 g(3);
  const Tensor ids = random_ids(g, B, 3, c.tokenizer.vocab_size, Device::cpu());
  m->decode(Context{Device::cpu(), B, 3, false}, ids, s);
  std::int64_t cached = 0;
  for (const auto& cc : s.caches) cached += cc->bytes();
  EXPECT_EQ(s.bytes(), cached + B * L * ng * d * f32) << "plus layer 1's values";
  // Too many tokens for max_len: a clear error, and the state is unchanged.
  const Tensor long_ids = random_ids(g, B, L - 2, c.tokenizer.vocab_size, Device::cpu());
  try {
    m->decode(Context{Device::cpu(), B, L - 2, false}, long_ids, s);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_len 50"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.position, 3);
  EXPECT_THROW(m->decode(Context{Device::cpu(), 1, 1, false}, ids.slice(0, 1).clone(), s), Error)
      << "batch of the state";
  // Routing each decoded token counts nothing toward the expert-bias update.
  for (auto& l : m->layers())
    if (auto* moe = dynamic_cast<moe::MoeLayer*>(&l->ffn()))
      for (std::int64_t n : moe->step_counts()) EXPECT_EQ(n, 0);
}

}  // namespace
}  // namespace vpmoe::testing
