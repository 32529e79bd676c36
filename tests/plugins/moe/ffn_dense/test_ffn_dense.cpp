// ffn.dense: forward against a double-precision reference, every gradient against finite
// differences, dense-layer and shared-expert widths and parameter counts from spec/moe.md,
// FLOPs, config errors, the plugin, and CUDA against the CPU.
#include <map>

#include "core/ops_cpu/cpu_test_util.h"
#include "core/ops_cuda/cuda_test_util.h"
#include "dense_ffn.h"
#include "plugins/moe/moe_test_util.h"
#include "registry/plugin_loader.h"
#include "vpmoe/config.h"

namespace vpmoe::testing {
namespace {

Config small_config(const std::string& extra = "") {
  return parse_config(
      "[model]\nnum_layers = 4\nhidden_size = 16\nhead_dim = 4\nnum_attention_heads = 4\n"
      "num_query_groups = 2\nffn_hidden_size = 12\n" +
          extra + "[moe]\nshared_expert_size = 20\n",
      "run.toml");
}

BuildArgs args_for(const Config& c, int layer, Device dev = Device::cpu(), bool bf16 = false) {
  BuildArgs a;
  a.config = &c;
  a.layer = LayerInfo{layer, c.model.num_layers, false, 0};
  a.device = dev;
  a.bf16_compute = bf16;
  return a;
}

// The FFN of every row of x [N, H].
Vec reference(const Params& p, const std::string& pre, const Vec& x, std::int64_t N, std::int64_t H,
              std::int64_t F, bool bias) {
  Vec y;
  for (std::int64_t n = 0; n < N; ++n) {
    const Vec row = ffn_reference(p, pre, -1, F, H, &x[std::size_t(n * H)], bias);
    y.insert(y.end(), row.begin(), row.end());
  }
  return y;
}

void check_layer(const Config& c, int layer, std::int64_t F, const std::string& pre, bool bias) {
  auto m = ffn::build(args_for(c, layer));
  std::mt19937 g(layer);
  const Params params = randomise(*m, g);
  const std::int64_t B = 2, T = 3, N = B * T, H = 16;
  Tensor x = rand_tensor(g, {N, H}), w = rand_tensor(g, {N, H});
  const Vec xv = to_double(x), wv = to_double(w);
  auto loss = [&](const Params& p, const Vec& xx) {
    return dot(reference(p, pre, xx, N, H, F, bias), wv);
  };
  Context ctx{Device::cpu(), B, T, true};
  m->zero_grad();
  expect_close(m->forward(ctx, x), reference(params, pre, xv, N, H, F, bias), 1e-5, "forward");
  const Tensor dx = m->backward(ctx, w);
  expect_close(dx, fd_grad([&](const Vec& xx) { return loss(params, xx); }, xv, 1e-6), 1e-4, "dx");
  for (Parameter* p : m->parameters()) {
    const Vec fd = fd_grad(
        [&](const Vec& v) {
          Params q = params;
          q[p->name] = v;
          return loss(q, xv);
        },
        params.at(p->name), 1e-6);
    expect_close(p->grad, fd, 1e-4, "grad of " + p->name);
  }
}

TEST(FfnDense, DenseLayerMatchesReferenceAndFiniteDifferences) {
  check_layer(small_config(), 1, 12, "layers.1.ffn", true);
}

TEST(FfnDense, SharedExpertOfAMoeLayerMatchesReferenceAndFiniteDifferences) {
  check_layer(small_config(), 3, 20, "layers.3.moe.shared_expert", true);
}

TEST(FfnDense, WithoutBiases) {
  const Config c = small_config("add_bias_linear = false\n");
  EXPECT_EQ(ffn::build(args_for(c, 1))->parameters().size(), 2u);
  check_layer(c, 1, 12, "layers.1.ffn", false);
}

TEST(FfnDense, ParameterCountsAndFlopsAreTheSpecs) {
  const Config c = parse_config(
      "[model]\nnum_layers = 80\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\nffn_hidden_size = 128\n[moe]\n"
      "shared_expert_size = 512\n",
      "locked.toml");
  auto dense = ffn::build(args_for(c, 1));
  auto shared = ffn::build(args_for(c, 2));
  EXPECT_EQ(dense->parameter_count(), 263296);
  EXPECT_EQ(shared->parameter_count(), 1050112);
  EXPECT_DOUBLE_EQ(dense->flops_per_token(4096), 2.0 * (2.0 * 128 * 1024));
  EXPECT_DOUBLE_EQ(shared->flops_per_token(4096), 2.0 * (2.0 * 512 * 1024));
}

TEST(FfnDense, BiasesStartAtZeroAndWeightsAreSeeded) {
  const Config c = small_config();
  auto a = ffn::build(args_for(c, 1)), b = ffn::build(args_for(c, 1));
  for (std::size_t i = 0; i < a->parameters().size(); ++i) {
    Parameter* p = a->parameters()[i];
    EXPECT_EQ(p->value.to_floats(), b->parameters()[i]->value.to_floats()) << p->name;
    if (p->role == ParamRole::bias)
      for (float v : p->value.to_floats()) EXPECT_EQ(v, 0.f) << p->name;
  }
}

TEST(FfnDense, ConfigErrorsNameTheKey) {
  auto msg = [](const std::string& extra) {
    try {
      const Config c = small_config(extra);
      ffn::build(args_for(c, 1));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(msg("gated_linear_unit = true\n").find("[model].gated_linear_unit"), std::string::npos);
  const std::string act = msg("activation = \"gelu\"\n");
  EXPECT_NE(act.find("run.toml:8"), std::string::npos) << act;
  EXPECT_NE(act.find("[model].activation"), std::string::npos) << act;
}

TEST(FfnDense, PluginRegistersTheName) {
  Registry reg;
  const auto report = load_plugins({VPMOE_FFN_DENSE_PLUGIN}, reg);
  ASSERT_TRUE(report.errors.empty()) << report.errors.front().message;
  const Config c = small_config();
  EXPECT_EQ(reg.create<FeedForward>("ffn.dense", args_for(c, 1))->spec_name(), "ffn.dense");
}

TEST(FfnDense, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Config c = parse_config(
      "[model]\nnum_layers = 8\nhidden_size = 1024\nnum_attention_heads = 8\n"
      "num_query_groups = 2\nhead_dim = 128\nffn_hidden_size = 128\n[moe]\n"
      "shared_expert_size = 512\n",
      "run.toml");
  for (bool bf16 : {false, true}) {
    SCOPED_TRACE(bf16 ? "bf16" : "f32");
    auto cpu = ffn::build(args_for(c, 2));
    auto gpu = ffn::build(args_for(c, 2, Device::cuda(0), bf16));
    std::mt19937 g(3);
    randomise(*cpu, g);
    for (std::size_t i = 0; i < cpu->parameters().size(); ++i) {
      gpu->parameters()[i]->value.copy_from(cpu->parameters()[i]->value);
      gpu->parameters()[i]->sync_compute();
    }
    const std::int64_t B = 2, T = 300, N = B * T;
    auto [xg, xc] = same_on_gpu(rand_tensor(g, {N, 1024}), bf16 ? DType::bf16 : DType::f32);
    auto [dyg, dyc] = same_on_gpu(rand_tensor(g, {N, 1024}), bf16 ? DType::bf16 : DType::f32);
    Context cc{Device::cpu(), B, T, true}, gc{Device::cuda(0), B, T, true};
    const double tol = bf16 ? 3e-2 : 1e-4;
    const Tensor yg = gpu->forward(gc, xg), yc = cpu->forward(cc, xc);
    expect_close(yg.to_floats(), to_double(yc), tol, "forward");
    expect_close(gpu->backward(gc, dyg).to_floats(), to_double(cpu->backward(cc, dyc)), tol, "dx");
    for (std::size_t i = 0; i < cpu->parameters().size(); ++i)
      expect_close(gpu->parameters()[i]->grad.to_floats(), to_double(cpu->parameters()[i]->grad),
                   tol, "grad of " + cpu->parameters()[i]->name);
  }
}

}  // namespace
}  // namespace vpmoe::testing
