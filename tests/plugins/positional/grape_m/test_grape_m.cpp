// positional.grape_m: initialisation, rotation, gradients of x and of the learnable
// log-frequencies against finite differences (double), per-head variant, config errors, the
// plugin file, and CUDA against the CPU.
#include <gtest/gtest.h>

#include "registry/plugin_loader.h"
#include "rotary_reference.h"
#include "vpmoe/device.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

using rotary::RotaryPositional;

std::unique_ptr<RotaryPositional> grape_m(const std::string& grape_toml = "",
                                          Device device = Device::cpu()) {
  const Config cfg = rotary_config("[grape]\n" + grape_toml);
  BuildArgs args;
  args.config = &cfg;
  args.device = device;
  args.layer.layer = 3;
  auto p = rotary::build_grape_m(args);
  return std::unique_ptr<RotaryPositional>(static_cast<RotaryPositional*>(p.release()));
}

TEST(GrapeM, InitialisesToRopeFrequencies) {
  auto g = grape_m();
  EXPECT_EQ(g->log_frequencies().name, "layers.3.positional.log_freq");
  EXPECT_EQ(g->parameters().size(), 1u);
  EXPECT_EQ(g->parameters()[0]->role, ParamRole::vector);
  const auto phi = g->log_frequencies().value.to_floats();
  const auto omega = g->frequencies().to_floats();
  ASSERT_EQ(phi.size(), 4u);  // head_dim 8 -> 4 pairs, shared by all heads
  for (std::size_t m = 0; m < 4; ++m) {
    const double rope = std::pow(10000.0, -2.0 * double(m) / 8.0);
    EXPECT_NEAR(phi[m], 16.0 * std::log(rope), 1e-5 * std::max(1.0, std::abs(16 * std::log(rope))));
    EXPECT_NEAR(omega[m], rope, 1e-6 * rope) << m;
  }
}

void check_gradients(bool per_head) {
  auto g = grape_m(per_head ? "grapem_share_across_heads = false\n" : "");
  std::mt19937 rng(per_head ? 52 : 51);
  const std::int64_t B = 2, T = 6, H = 4, D = 8;
  // Move phi off its initial values so that every frequency matters.
  Tensor& phi = g->log_frequencies().value;
  phi.copy_from(rand_tensor(rng, phi.shape(), -20.f, 5.f));
  const double c = 16.0;
  const Vec phiv = to_double(phi);
  auto omega_of = [&](const Vec& p) {
    Vec w(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) w[i] = std::exp(p[i] / c);
    return w;
  };
  Tensor x = rand_tensor(rng, {B, T, H, D}), r = rand_tensor(rng, {B, T, H, D});
  const Vec xv = to_double(x), rv = to_double(r);

  Context ctx{Device::cpu(), B, T, true};
  Tensor y = x.clone();
  g->apply(ctx, y);
  expect_close(y, rotate_ref(xv, omega_of(phiv), T, H, D), 1e-5, "grape_m forward");

  Vec gx =
      fd_grad([&](const Vec& X) { return dot(rv, rotate_ref(X, omega_of(phiv), T, H, D)); }, xv);
  Vec gphi = fd_grad([&](const Vec& P) { return dot(rv, rotate_ref(xv, omega_of(P), T, H, D)); },
                     phiv, 1e-4);
  Tensor dy = r.clone();
  g->zero_grad();
  g->apply_backward(ctx, y, dy);
  expect_close(dy, gx, 1e-5, "grape_m dx");
  expect_close(g->log_frequencies().grad, gphi, 1e-4, "grape_m dphi");
}

TEST(GrapeM, SharedFrequencyGradientsMatchFiniteDifferences) {
  check_gradients(false);
}
TEST(GrapeM, PerHeadFrequencyGradientsMatchFiniteDifferences) {
  check_gradients(true);
}

TEST(GrapeM, FrozenFrequenciesHaveNoParameters) {
  auto g = grape_m("grapem_learnable_freq = false\n");
  EXPECT_TRUE(g->parameters().empty());
  Tensor x = Tensor::from_floats(std::vector<float>(2 * 3 * 4 * 8, 0.5f), {2, 3, 4, 8}, DType::f32);
  Context ctx{Device::cpu(), 2, 3, true};
  Tensor y = x.clone();
  g->apply(ctx, y);
  Tensor dy = y.clone();
  g->apply_backward(ctx, y, dy);  // the transpose rotation only
  expect_close(dy, to_double(x), 1e-6, "frozen backward rotates back");
}

TEST(GrapeM, ConfigErrorsNameTheKey) {
  auto msg = [](const std::string& model, const std::string& grape) {
    try {
      const Config cfg =
          parse_config("[model]\nnum_layers = 4\nnum_attention_heads = 4\nnum_query_groups = 2\n" +
                           model + "[grape]\n" + grape,
                       "run.toml");
      BuildArgs args;
      args.config = &cfg;
      rotary::build_grape_m(args);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(msg("hidden_size = 28\nhead_dim = 7\n", "").find("[model].head_dim"),
            std::string::npos);
  const std::string scale =
      msg("hidden_size = 32\nhead_dim = 8\n", "grapem_log_freq_scale = 0.0\n");
  EXPECT_NE(scale.find("grape"), std::string::npos) << scale;
}

TEST(GrapeM, PluginRegistersBothNames) {
  Registry reg;
  const auto report = load_plugins({VPMOE_ROTARY_PLUGIN}, reg);
  ASSERT_TRUE(report.errors.empty()) << report.errors.front().message;
  const Config cfg = rotary_config();
  BuildArgs args;
  args.config = &cfg;
  EXPECT_EQ(reg.create<Positional>("positional.grape_m", args)->type(),
            Positional::Type::multiplicative);
  EXPECT_EQ(reg.create<Positional>("positional.rope", args)->parameters().size(), 0u);
}

TEST(GrapeM, CudaMatchesCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  auto cpu = grape_m(), gpu = grape_m("", Device::cuda(0));
  std::mt19937 rng(53);
  const std::int64_t B = 2, T = 512, H = 4, D = 8;
  Tensor x = rand_tensor(rng, {B, T, H, D}), r = rand_tensor(rng, {B, T, H, D});
  Context cc{Device::cpu(), B, T, true}, gc{Device::cuda(0), B, T, true};
  Tensor yc = x.clone(), yg = x.to(Device::cuda(0));
  cpu->apply(cc, yc);
  gpu->apply(gc, yg);
  expect_close(yg.to(Device::cpu()), to_double(yc), 1e-5, "forward");
  Tensor dc = r.clone(), dg = r.to(Device::cuda(0));
  cpu->zero_grad();
  gpu->zero_grad();
  cpu->apply_backward(cc, yc, dc);
  gpu->apply_backward(gc, yg, dg);
  expect_close(dg.to(Device::cpu()), to_double(dc), 1e-5, "dx");
  expect_close(gpu->log_frequencies().grad.to(Device::cpu()),
               to_double(cpu->log_frequencies().grad), 1e-4, "dphi");
}

}  // namespace
}  // namespace vpmoe::testing
