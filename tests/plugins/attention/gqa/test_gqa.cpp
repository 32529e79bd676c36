// attention.gqa: the global layer (causal, ALiBi from GRAPE-A, softmax offsets, value
// residual) against a double-precision reference and finite differences; GQA with ng = nh as
// plain multi-head attention; parameter and FLOP counts from spec/attention.md (and the locked
// model's total); config errors; the plugin; CUDA against the CPU.
#include "attention_checks.h"
#include "gqa_attention.h"
#include "grape_a.h"
#include "registry/plugin_loader.h"

namespace vpmoe::testing {
namespace {

std::shared_ptr<Positional> alibi(const Config& c, Device dev = Device::cpu()) {
  return std::shared_ptr<Positional>(grape_a::build(attention_args(c, 4, true, nullptr, dev)));
}

std::unique_ptr<Attention> gqa(const Config& c, int layer, bool with_alibi = true,
                               Device dev = Device::cpu(), bool bf16 = false) {
  return attention::build_gqa(
      attention_args(c, layer, true, with_alibi ? alibi(c, dev) : nullptr, dev, bf16));
}

RefOptions alibi_options(int heads) {
  RefOptions o;
  for (double s : grape_a::alibi_slopes(heads)) o.slopes.push_back(double(float(s)));
  return o;
}

TEST(Gqa, GlobalLayerMatchesReferenceAndFiniteDifferences) {
  const Config c = attention_config();
  auto m = gqa(c, 4);
  RefShape s;
  s.layer = 4;
  check_against_reference(*m, s, alibi_options(4), 11);
}

TEST(Gqa, FirstLayerAndNoPositionalMatchReference) {
  const Config c = attention_config();
  auto m = gqa(c, 1, false);
  RefShape s;
  s.layer = 1;
  check_against_reference(*m, s, RefOptions{}, 12);
}

TEST(Gqa, OneGroupPerHeadIsMultiHeadAttention) {
  // ng = nh: every query head has its own key and value; the reference computes exactly that.
  const Config c = parse_config(
      "[model]\nnum_layers = 4\nhidden_size = 32\nhead_dim = 8\nnum_attention_heads = 4\n"
      "num_query_groups = 4\n",
      "run.toml");
  auto m = gqa(c, 2);
  RefShape s;
  s.ng = 4;
  check_against_reference(*m, s, alibi_options(4), 13);
}

TEST(Gqa, MultiQueryAttentionMatchesReference) {
  const Config c = parse_config(
      "[model]\nnum_layers = 4\nhidden_size = 32\nhead_dim = 8\nnum_attention_heads = 4\n"
      "num_query_groups = 1\nsoftmax_type = \"off-by-one\"\n",
      "run.toml");
  auto m = gqa(c, 3);
  RefShape s;
  s.ng = 1, s.layer = 3;
  RefOptions o = alibi_options(4);
  o.softmax = 2;
  check_against_reference(*m, s, o, 14);
}

Config locked_config() {
  return parse_config(
      "[model]\nnum_layers = 80\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\n[attention]\nwindow_size = 128\n",
      "locked.toml");
}

TEST(Gqa, ParameterCountsAreTheSpecs) {
  const Config c = locked_config();
  const std::int64_t global = gqa(c, 4)->parameter_count();
  EXPECT_EQ(global, 1574400 + 1049600 + 256 + 8 + 1);
  // The locked model: 60 local TPA layers (layer 1 without theta) and 20 global GQA layers.
  const std::int64_t tpa_layer = 2140937;  // test_attention_tpa checks it from the module
  const std::int64_t total = (tpa_layer - 1) + 59 * tpa_layer + 20 * global;
  EXPECT_EQ(total, 180941519);
  EXPECT_NEAR(double(total) / 1e6, 181, 0.5);
}

TEST(Gqa, FlopsAreCausal) {
  const Config c = locked_config();
  auto m = gqa(c, 4, false);
  const double H = 1024, nh = 8, ng = 2, d = 128;
  const double proj = 2 * H * (nh + 2 * ng) * d + 2 * H * nh * d;
  EXPECT_DOUBLE_EQ(m->flops_per_token(4096), proj + 4 * nh * d * 4097 / 2);
  // With GRAPE-A: one multiply-add per score.
  EXPECT_DOUBLE_EQ(gqa(c, 4, true)->flops_per_token(4096),
                   proj + 4 * nh * d * 4097 / 2 + 2 * nh * 4096);
}

TEST(Gqa, ConfigErrorsNameTheKey) {
  try {
    const Config c = parse_config(
        "[model]\nnum_layers = 4\nhidden_size = 32\nhead_dim = 8\nnum_attention_heads = 4\n"
        "softmax_type = \"learnable\"\nnum_query_groups = 3\n",
        "run.toml");
    gqa(c, 4);
    FAIL() << "4 heads in 3 groups accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_query_groups"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("run.toml:"), std::string::npos) << e.what();
  }
}

TEST(Gqa, AttentionDropoutIsRefused) {
  const Config c = parse_config(
      "[model]\nnum_layers = 4\nhidden_size = 32\nhead_dim = 8\nnum_attention_heads = 4\n"
      "num_query_groups = 2\n[attention]\nattention_dropout = 0.1\n",
      "run.toml");
  try {
    gqa(c, 4);
    FAIL() << "dropout accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("run.toml:8:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[attention].attention_dropout"), std::string::npos)
        << e.what();
  }
}

TEST(Gqa, PluginRegistersTheName) {
  Registry reg;
  const auto report = load_plugins({VPMOE_GQA_PLUGIN}, reg);
  ASSERT_TRUE(report.errors.empty()) << report.errors.front().message;
  const Config c = attention_config();
  auto m = reg.create<Attention>("attention.gqa", attention_args(c, 4, true));
  EXPECT_EQ(m->spec_name(), "attention.gqa");
}

TEST(Gqa, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Config c = parse_config(
      "[model]\nnum_layers = 8\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\n",
      "run.toml");
  for (bool bf16 : {false, true}) {
    auto build = [&](Device dev, bool b) { return gqa(c, 4, true, dev, b); };
    SCOPED_TRACE(bf16 ? "bf16" : "f32");
    check_cuda_matches_cpu(build, 2, 200, 1024, 2, 128, true, bf16);
  }
}

}  // namespace
}  // namespace vpmoe::testing
