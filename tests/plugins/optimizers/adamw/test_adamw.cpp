// optimizer.adamw: three steps against a double-precision reference written from the spec's
// formulas (bias correction, decoupled weight decay on flagged parameters only), state save /
// load giving bit-identical next steps, refused state, config errors, the plugin, and CUDA
// against the CPU bit for bit (with the bf16 compute weights refreshed in the pass).
#include "adamw.h"
#include "core/ops_cpu/cpu_test_util.h"
#include "registry/plugin_loader.h"
#include "vpmoe/config.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {
namespace {

Config config(const std::string& beta2 = "0.95") {
  return parse_config(
      "[model]\nnum_layers = 2\nhidden_size = 8\nhead_dim = 2\nnum_attention_heads = 4\n"
      "num_query_groups = 2\n[optimizer]\nadam_beta1 = 0.8\nadam_beta2 = " +
          beta2 + "\nadam_eps = 1e-6\n",
      "run.toml");
}

std::unique_ptr<Optimizer> make(const Config& c) {
  BuildArgs a;
  a.config = &c;
  return adamw::build(a);
}

struct Params {
  Parameter w, b;
  explicit Params(std::mt19937& g, Device d = Device::cpu()) {
    w = Parameter::make("w", {3, 5}, ParamRole::embedding, d);
    b = Parameter::make("b", {5}, ParamRole::bias, d);
    b.weight_decay = false;
    w.value.copy_from(rand_tensor(g, {3, 5}));
    b.value.copy_from(rand_tensor(g, {5}));
  }
  std::vector<Parameter*> list() { return {&w, &b}; }
};

// The spec's AdamW in double for one tensor over `grads` (one per step).
Vec reference(Vec w, const std::vector<Vec>& grads, double lr, double wd, double b1, double b2,
              double eps) {
  Vec m(w.size(), 0.0), v(w.size(), 0.0);
  for (std::size_t t = 1; t <= grads.size(); ++t) {
    const Vec& g = grads[t - 1];
    for (std::size_t i = 0; i < w.size(); ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const double u = (m[i] / (1 - std::pow(b1, double(t)))) /
                       (std::sqrt(v[i] / (1 - std::pow(b2, double(t)))) + eps);
      w[i] = w[i] * (1 - lr * wd) - lr * u;
    }
  }
  return w;
}

TEST(OptimizerAdamW, ThreeStepsMatchTheDoubleReference) {
  const Config c = config();
  std::mt19937 g(1);
  Params p(g);
  auto opt = make(c);
  opt->add_parameters(p.list());
  const Vec w0 = to_double(p.w.value), b0 = to_double(p.b.value);
  std::vector<Vec> gw, gb;
  for (int s = 0; s < 3; ++s) {
    p.w.grad.copy_from(rand_tensor(g, {3, 5}));
    p.b.grad.copy_from(rand_tensor(g, {5}));
    gw.push_back(to_double(p.w.grad));
    gb.push_back(to_double(p.b.grad));
    opt->step(OptimizerStep{s, 1e-2, 0.1});
  }
  expect_close(p.w.value, reference(w0, gw, 1e-2, 0.1, 0.8, 0.95, 1e-6), 1e-6, "decayed w");
  expect_close(p.b.value, reference(b0, gb, 1e-2, 0.0, 0.8, 0.95, 1e-6), 1e-6,
               "bias: no weight decay");
}

TEST(OptimizerAdamW, SavedStateGivesBitIdenticalNextSteps) {
  const Config c = config();
  std::mt19937 g(2), g2(2);
  Params a(g), b(g2);
  auto oa = make(c), ob = make(c);
  oa->add_parameters(a.list());
  ob->add_parameters(b.list());
  std::mt19937 gg(3);
  const Tensor g1 = rand_tensor(gg, {3, 5}), g2w = rand_tensor(gg, {3, 5});
  a.w.grad.copy_from(g1);
  oa->step(OptimizerStep{0, 1e-2, 0.1});
  // b takes a's parameters and state, then both take the same next steps.
  b.w.value.copy_from(a.w.value);
  b.b.value.copy_from(a.b.value);
  ob->load_state(oa->state());
  for (int s = 1; s < 3; ++s) {
    a.w.grad.copy_from(g2w);
    b.w.grad.copy_from(g2w);
    oa->step(OptimizerStep{s, 1e-2, 0.1});
    ob->step(OptimizerStep{s, 1e-2, 0.1});
  }
  EXPECT_EQ(a.w.value.to_floats(), b.w.value.to_floats());
  EXPECT_EQ(a.b.value.to_floats(), b.b.value.to_floats());
}

TEST(OptimizerAdamW, RefusesStateThatDoesNotFit) {
  const Config c = config();
  std::mt19937 g(4);
  Params p(g);
  auto opt = make(c);
  opt->add_parameters(p.list());
  std::map<std::string, Tensor> st = opt->state();
  st.erase("b.exp_avg");
  try {
    opt->load_state(st);
    ADD_FAILURE() << "missing state accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("b.exp_avg"), std::string::npos) << e.what();
  }
  st = opt->state();
  st["w.exp_avg"] = Tensor::zeros({5, 3}, DType::f32);
  EXPECT_THROW(opt->load_state(st), Error);
  EXPECT_THROW(opt->add_parameters({&p.w}), Error) << "added twice";
}

TEST(OptimizerAdamW, ConfigErrorsNameTheKey) {
  try {
    make(config("1.5"));
    ADD_FAILURE() << "beta2 1.5 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[optimizer].adam_beta2"), std::string::npos) << e.what();
  }
}

TEST(OptimizerAdamW, PluginRegistersTheName) {
  Registry reg;
  const auto report = load_plugins({VPMOE_ADAMW_PLUGIN}, reg);
  ASSERT_TRUE(report.errors.empty()) << report.errors.front().message;
  const Config c = config();
  BuildArgs a;
  a.config = &c;
  EXPECT_EQ(reg.create<Optimizer>("optimizer.adamw", a)->spec_name(), "optimizer.adamw");
}

TEST(OptimizerAdamW, CudaMatchesCpuBitForBit) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Config c = config();
  std::mt19937 g(5), g2(5);
  Params hc(g), hg(g2, Device::cuda(0));
  auto oc = make(c), og = make(c);
  oc->add_parameters(hc.list());
  og->add_parameters(hg.list());
  std::mt19937 gg(6);
  for (int s = 0; s < 3; ++s) {
    const Tensor gw = rand_tensor(gg, {3, 5}), gb = rand_tensor(gg, {5});
    hc.w.grad.copy_from(gw), hc.b.grad.copy_from(gb);
    hg.w.grad.copy_from(gw), hg.b.grad.copy_from(gb);
    oc->step(OptimizerStep{s, 1e-2, 0.1});
    og->step(OptimizerStep{s, 1e-2, 0.1});
  }
  EXPECT_EQ(hc.w.value.to_floats(), hg.w.value.to_floats());
  EXPECT_EQ(hc.b.value.to_floats(), hg.b.value.to_floats());
}

// Sizes past the 4-wide loads' tail, and a parameter with bf16 compute weights: the update
// is the CPU's bit for bit and the bf16 copy is the new weights rounded, refreshed in the pass.
TEST(OptimizerAdamW, CudaMatchesCpuWithBf16ComputeWeights) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Config c = config();
  for (std::int64_t n : {4099, 4096, 3}) {
    std::mt19937 g(7);
    const Tensor w0 = rand_tensor(g, {n});
    Parameter pc = Parameter::make("w", {n}, ParamRole::embedding, Device::cpu());
    Parameter pg = Parameter::make("w", {n}, ParamRole::embedding, Device::cuda(0), true);
    pc.value.copy_from(w0);
    pg.value.copy_from(w0);
    pg.sync_compute();
    ASSERT_NE(pg.compute.data(), pg.value.data());
    auto oc = make(c), og = make(c);
    oc->add_parameters({&pc});
    og->add_parameters({&pg});
    for (int s = 0; s < 3; ++s) {
      const Tensor gr = rand_tensor(g, {n});
      pc.grad.copy_from(gr);
      pg.grad.copy_from(gr);
      oc->step(OptimizerStep{s, 1e-2, 0.1});
      og->step(OptimizerStep{s, 1e-2, 0.1});
    }
    EXPECT_EQ(pc.value.to_floats(), pg.value.to_floats()) << n;
    EXPECT_EQ(pg.compute.to_floats(), ops::cast_to(pc.value, DType::bf16).to_floats()) << n;
  }
}

// A step that reads every grad times grad_scale (the clip's factor) is, bit for bit, the step on
// grads scaled in place first, on the CPU and on CUDA.
TEST(OptimizerAdamW, GradScaleIsTheScaledGrads) {
  const Config c = config();
  std::vector<Device> devices{Device::cpu()};
  if (cuda_available()) devices.push_back(Device::cuda(0));
  for (Device d : devices) {
    std::mt19937 g(5), g2(5);
    Params ha(g, d), hb(g2, d);
    auto oa = make(c), ob = make(c);
    oa->add_parameters(ha.list());
    ob->add_parameters(hb.list());
    std::mt19937 gg(6);
    for (int s = 0; s < 3; ++s) {
      const Tensor gw = rand_tensor(gg, {3, 5}), gb = rand_tensor(gg, {5});
      ha.w.grad.copy_from(gw), ha.b.grad.copy_from(gb);
      hb.w.grad.copy_from(gw), hb.b.grad.copy_from(gb);
      ops::scale(hb.w.grad, 0.37f, hb.w.grad);
      ops::scale(hb.b.grad, 0.37f, hb.b.grad);
      oa->step(OptimizerStep{s, 1e-2, 0.1, 0.37f});
      ob->step(OptimizerStep{s, 1e-2, 0.1});
    }
    EXPECT_EQ(ha.w.value.to_floats(), hb.w.value.to_floats()) << d.str();
    EXPECT_EQ(ha.b.value.to_floats(), hb.b.value.to_floats()) << d.str();
  }
}

}  // namespace
}  // namespace vpmoe::testing
