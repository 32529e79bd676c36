// attention.tpa: the layer against a double-precision reference and finite differences (with
// GRAPE-M, offsets, value residual, biases, QK-norm), the TPA invariants, parameter and FLOP
// counts from spec/attention.md, config errors, the plugin, and CUDA against the CPU.
#include "attention_checks.h"
#include "registry/plugin_loader.h"
#include "rotary_positional.h"
#include "tpa_attention.h"

namespace vpmoe::testing {
namespace {

using attention::TpaAttention;

std::shared_ptr<Positional> grape_m(const Config& c, int layer, Device dev = Device::cpu()) {
  BuildArgs a = attention_args(c, layer, false, nullptr, dev);
  return std::shared_ptr<Positional>(rotary::build_grape_m(a));
}

std::unique_ptr<Attention> tpa(const Config& c, int layer, bool with_grape = true,
                               Device dev = Device::cpu(), bool bf16 = false) {
  return attention::build_tpa(
      attention_args(c, layer, false, with_grape ? grape_m(c, layer, dev) : nullptr, dev, bf16));
}

RefShape tpa_shape(int layer, std::int64_t window = 3) {
  RefShape s;
  s.tpa = true, s.layer = layer, s.window = window;
  return s;
}

TEST(Tpa, LayerMatchesReferenceAndFiniteDifferences) {
  const Config c = attention_config();
  auto m = tpa(c, 2);
  check_against_reference(*m, tpa_shape(2), RefOptions{}, 1);
}

TEST(Tpa, FirstLayerSendsItsValuesAndTakesTheirGradient) {
  const Config c = attention_config();
  auto m = tpa(c, 1);
  for (Parameter* p : m->parameters())
    EXPECT_EQ(p->name.find("value_residual_logit"), std::string::npos) << "layer 1 has no theta";
  check_against_reference(*m, tpa_shape(1), RefOptions{}, 2);
}

TEST(Tpa, VariantsMatchReference) {
  {
    const Config c = attention_config(
        "softmax_type = \"vanilla\"\nadd_qkv_bias = false\nadd_bias_linear = false\n"
        "qk_layernorm = false\n");
    auto m = tpa(c, 3, false);
    RefOptions o;
    o.softmax = 0, o.qkv_bias = o.out_bias = o.qk_norm = false;
    RefShape s = tpa_shape(3);
    check_against_reference(*m, s, o, 3);
  }
  {
    const Config c = attention_config("softmax_type = \"off-by-one\"\nvalue_residual = false\n", 5);
    auto m = tpa(c, 2);
    RefOptions o;
    o.softmax = 2, o.value_residual = false;
    check_against_reference(*m, tpa_shape(2, 5), o, 4);
  }
}

TEST(Tpa, RankOneHeadsAndRotatingTheFactors) {
  // q[h] = a[h] b with one rank: every head of a token is a multiple of the same vector; and
  // rotating the assembled q equals assembling from the rotated b (the rotation is linear).
  std::mt19937 g(9);
  const std::int64_t B = 2, T = 5, nh = 4, d = 8, R = 1;
  Tensor a = rand_tensor(g, {B * T, nh, R}), b = rand_tensor(g, {B * T, R, d});
  Tensor q = Tensor::empty({B * T, nh, d}, DType::f32);
  ops::gemm(a, b, q, false, false, 1.f / float(R));
  const std::vector<float> qv = q.to_floats(), av = a.to_floats(), bv = b.to_floats();
  for (std::int64_t n = 0; n < B * T; ++n)
    for (std::int64_t h = 0; h < nh; ++h)
      for (std::int64_t e = 0; e < d; ++e)
        ASSERT_NEAR(qv[std::size_t((n * nh + h) * d + e)],
                    av[std::size_t(n * nh + h)] * bv[std::size_t(n * d + e)], 1e-6);
  for (std::int64_t rank : {1, 3}) {
    Tensor ar = rand_tensor(g, {B * T, nh, rank}), br = rand_tensor(g, {B * T, rank, d});
    Tensor omega = rand_tensor(g, {d / 2}, 0.f, 1.f);
    Tensor q1 = Tensor::empty({B * T, nh, d}, DType::f32),
           q2 = Tensor::empty({B * T, nh, d}, DType::f32);
    ops::gemm(ar, br, q1, false, false, 1.f / float(rank));
    Tensor q1r = q1.view({B, T, nh, d});
    ops::rotary(q1r, omega);
    Tensor brr = br.view({B, T, rank, d});
    ops::rotary(brr, omega);
    ops::gemm(ar, br, q2, false, false, 1.f / float(rank));
    expect_close(q2, to_double(q1), 1e-5, "rotate(assemble) == assemble(rotate b)");
  }
}

TEST(Tpa, WindowAsLongAsTheSequenceIsCausal) {
  const Config c = attention_config("", 7);  // T = 7
  auto local = tpa(c, 2);
  auto global = attention::build_tpa(attention_args(c, 2, true, grape_m(c, 2)));
  std::mt19937 g(4);
  randomise_parameters(*local, g);
  auto pl = local->parameters(), pg = global->parameters();
  for (std::size_t i = 0; i < pl.size(); ++i) pg[i]->value.copy_from(pl[i]->value);
  Tensor x = rand_tensor(g, {14, 32});
  Context ctx{Device::cpu(), 2, 7, true};
  EXPECT_EQ(local->forward(ctx, x, nullptr).to_floats(),
            global->forward(ctx, x, nullptr).to_floats());
}

TEST(Tpa, ValueResidualLambdaOneIsIdentityAndZeroUsesLayerOne) {
  const Config c = attention_config();
  auto m = tpa(c, 2);
  std::mt19937 g(6);
  randomise_parameters(*m, g);
  Parameter* theta = nullptr;
  Parameter* b_v = nullptr;
  for (Parameter* p : m->parameters()) {
    if (p->name.ends_with("value_residual_logit")) theta = p;
    if (p->name.ends_with("tpa.b_v")) b_v = p;
  }
  ASSERT_TRUE(theta && b_v);
  Tensor x = rand_tensor(g, {14, 32});
  Context ctx{Device::cpu(), 2, 7, true};
  ValueResidualState vr;
  vr.v1 = rand_tensor(g, {2, 7, 2, 8});
  ops::fill(theta->value, 60.f);  // lambda = 1 in fp32
  EXPECT_EQ(m->forward(ctx, x, &vr).to_floats(), m->forward(ctx, x, nullptr).to_floats());
  ops::fill(theta->value, -60.f);  // lambda = 0: v's own weights no longer matter
  const std::vector<float> y0 = m->forward(ctx, x, &vr).to_floats();
  b_v->value.copy_from(rand_tensor(g, b_v->value.shape()));
  EXPECT_EQ(m->forward(ctx, x, &vr).to_floats(), y0);
}

TEST(Tpa, VeryNegativeOffsetIsPlainSoftmax) {
  const Config learn = attention_config(), plain = attention_config("softmax_type = \"vanilla\"\n");
  auto a = tpa(learn, 2), b = tpa(plain, 2);
  std::mt19937 g(8);
  randomise_parameters(*a, g);
  for (Parameter* p : a->parameters())
    if (p->name.ends_with("softmax_offset")) ops::fill(p->value, -1e4f);
  for (Parameter* q : b->parameters())
    for (Parameter* p : a->parameters())
      if (p->name == q->name) q->value.copy_from(p->value);
  Tensor x = rand_tensor(g, {14, 32});
  Context ctx{Device::cpu(), 2, 7, true};
  EXPECT_EQ(a->forward(ctx, x, nullptr).to_floats(), b->forward(ctx, x, nullptr).to_floats());
}

Config locked_config() {
  return parse_config(
      "[model]\nnum_layers = 80\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\n[attention]\nwindow_size = 128\n"
      "[tpa]\ntpa_rank = 2\ntpa_q_rank = 4\n",
      "locked.toml");
}

TEST(Tpa, ParameterCountsAreTheSpecs) {
  const Config c = locked_config();
  // A: (32+4+4) x 1024, B: (512+256+256) x 1024, QKV bias 1536, W_o + b_o, norms 256,
  // offsets 8, theta 1 (not in layer 1).
  EXPECT_EQ(tpa(c, 2, false)->parameter_count(), 1089536 + 1536 + 1049600 + 256 + 8 + 1);
  EXPECT_EQ(tpa(c, 1, false)->parameter_count(), 2140936);
  EXPECT_EQ(tpa(c, 2, true)->parameter_count(), 2140937 + 64) << "GRAPE-M's 64 log-frequencies";
}

TEST(Tpa, FlopsCountTheWindow) {
  const Config c = locked_config();
  auto m = tpa(c, 2, false);
  const double H = 1024, nh = 8, ng = 2, d = 128, Rq = 4, R = 2, W = 128;
  const double proj = 2 * H * (nh * Rq + 2 * ng * R + Rq * d + 2 * R * d) +
                      2 * (nh * Rq * d + 2 * ng * R * d) + 2 * H * nh * d;
  // T = 4096: rows 0..127 see i + 1 keys, the other 3968 rows see 128.
  const double keys4096 = (W * (W + 1) / 2 + (4096 - W) * W) / 4096;
  EXPECT_DOUBLE_EQ(m->flops_per_token(4096), proj + 4 * nh * d * keys4096);
  EXPECT_DOUBLE_EQ(m->flops_per_token(64), proj + 4 * nh * d * 32.5);
  // The window caps the attention term: 8x the sequence adds almost nothing.
  EXPECT_LT(m->flops_per_token(32768) - m->flops_per_token(4096), 4 * nh * d * 2.0);
}

std::string build_error(const std::string& model, const std::string& attention,
                        const std::string& tpa_section) {
  try {
    const Config c = parse_config("[model]\nnum_layers = 4\nhidden_size = 32\nhead_dim = 8\n" +
                                      model + "[attention]\n" + attention + "[tpa]\n" + tpa_section,
                                  "run.toml");
    attention::build_tpa(attention_args(c, 1, false));
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Tpa, ConfigErrorsNameTheKey) {
  const std::string heads = "num_attention_heads = 4\nnum_query_groups = 2\n";
  EXPECT_NE(build_error(heads, "window_size = 0\n", "").find("[attention].window_size"),
            std::string::npos)
      << build_error(heads, "window_size = 0\n", "");
  const std::string bad_groups =
      build_error("num_attention_heads = 4\nnum_query_groups = 3\n", "", "");
  EXPECT_NE(bad_groups.find("num_query_groups"), std::string::npos) << bad_groups;
  EXPECT_NE(bad_groups.find("run.toml:"), std::string::npos) << bad_groups;
  EXPECT_NE(build_error(heads, "", "use_tpa = false\n").find("[tpa].use_tpa"), std::string::npos);
  EXPECT_NE(build_error(heads, "", "tpa_rank = 0\n").find("tpa_rank"), std::string::npos);
}

TEST(Tpa, PluginRegistersTheName) {
  Registry reg;
  const auto report = load_plugins({VPMOE_TPA_PLUGIN}, reg);
  ASSERT_TRUE(report.errors.empty()) << report.errors.front().message;
  const Config c = attention_config();
  auto m = reg.create<Attention>("attention.tpa", attention_args(c, 2, false));
  EXPECT_EQ(m->spec_name(), "attention.tpa");
}

TEST(Tpa, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Config c = parse_config(
      "[model]\nnum_layers = 4\nhidden_size = 512\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 64\n[attention]\nwindow_size = 128\n",
      "run.toml");
  for (bool bf16 : {false, true}) {
    auto build = [&](Device dev, bool b) { return tpa(c, 2, true, dev, b); };
    SCOPED_TRACE(bf16 ? "bf16" : "f32");
    check_cuda_matches_cpu(build, 2, 300, 512, 2, 64, true, bf16);
  }
}

}  // namespace
}  // namespace vpmoe::testing
