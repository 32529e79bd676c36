// build_model: the in-tree plugins (loaded as .so files from the build tree) assemble a small
// vpMoE (TPA local / GQA global on the 3:1 schedule, GRAPE-M / GRAPE-A, dense layer 1, MoE
// layers with a shared expert); its layers carry the plugins' spec names, parameter names are
// unique, one forward/backward gives a finite loss near log V and finite grads; an unknown name
// fails with the [plugins] key and the names that exist.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "moe/moe_layer.h"
#include "registry/plugin_loader.h"
#include "train/grad_clip.h"
#include "train/model_builder.h"
#include "train/optimizer_set.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {
namespace {

const char* kTiny =
    "[tokenizer]\nvocab_size = 64\n"
    "[model]\nnum_layers = 4\nhidden_size = 16\nnum_attention_heads = 4\nnum_query_groups = 2\n"
    "head_dim = 4\nffn_hidden_size = 8\n"
    "[attention]\nwindow_size = 4\nwindow_attn_skip_freq = 4\n"
    "[tpa]\ntpa_rank = 2\ntpa_q_rank = 4\n"
    "[moe]\nnum_experts = 4\ntopk = 2\nshared_expert_size = 8\nrouter_num_groups = 2\n"
    "router_group_topk = 1\n";

Registry in_tree_plugins() {
  Registry reg;
  const auto report = load_plugins({VPMOE_PLUGIN_DIR}, reg);
  for (const auto& e : report.errors) ADD_FAILURE() << e.message;
  return reg;
}

TEST(ModelBuilder, AssemblesTheLayerRolesFromSpecNames) {
  const Config c = parse_config(kTiny, "run.toml");
  const Registry reg = in_tree_plugins();
  auto m = host::train::build_model(c, reg, {Device::cpu(), false, 7});
  ASSERT_EQ(m->layers().size(), 4u);
  for (int l = 1; l <= 4; ++l) {
    auto& layer = *m->layers()[std::size_t(l - 1)];
    EXPECT_EQ(layer.attention().spec_name(), l == 4 ? "attention.gqa" : "attention.tpa") << l;
    EXPECT_EQ(layer.ffn().spec_name(), l == 1 ? "ffn.dense" : "moe.layer") << l;
  }
  std::set<std::string> names;
  for (Parameter* p : m->parameters()) EXPECT_TRUE(names.insert(p->name).second) << p->name;

  const std::int64_t B = 2, T = 8, N = B * T;
  std::vector<float> ids(N), targets(N);
  for (std::int64_t i = 0; i < N; ++i)
    ids[i] = float((i * 7) % 64), targets[i] = float((i * 5 + 3) % 64);
  Context ctx{Device::cpu(), B, T, true};
  const auto st = m->run(ctx, Tensor::from_floats(ids, {N}, DType::i32),
                         Tensor::from_floats(targets, {N}, DType::i32), Tensor(), 1.f, true);
  EXPECT_NEAR(st.mean(), std::log(64.0), 0.5) << "near-uniform predictions at init";
  EXPECT_GT(m->aux_loss(), 0.0) << "the MoE layers' aux losses";
  double gsum = 0;
  for (Parameter* p : m->parameters())
    for (float g : p->grad.to_floats()) {
      ASSERT_TRUE(std::isfinite(g)) << p->name;
      gsum += std::abs(g);
    }
  EXPECT_GT(gsum, 0.0);
}

// The whole stack learns: the model, NorMuon + AdamW through the OptimizerSet, clipping and the
// expert-bias update, memorising one batch on the CPU.
TEST(ModelBuilder, TrainingStepsDriveTheLossDown) {
  const Config c = parse_config(std::string(kTiny) +
                                    "[train]\nlr = 0.02\nmin_lr = 0.02\ntrain_iters = 40\n"
                                    "[optimizer]\nnormuon_aux_lr = 0.01\n",
                                "run.toml");
  const Registry reg = in_tree_plugins();
  auto m = host::train::build_model(c, reg, {Device::cpu(), false, 7});
  host::train::OptimizerSet opt(c, reg, m->parameters());
  const std::int64_t B = 2, T = 8, N = B * T;
  std::vector<float> ids(N), targets(N);
  for (std::int64_t i = 0; i < N; ++i)
    ids[i] = float((i * 7) % 64), targets[i] = float((i * 5 + 3) % 64);
  const Tensor ti = Tensor::from_floats(ids, {N}, DType::i32),
               tt = Tensor::from_floats(targets, {N}, DType::i32);
  Context ctx{Device::cpu(), B, T, true};
  double first = 0, last = 0;
  for (int s = 0; s < 40; ++s) {
    for (Parameter* p : m->parameters()) p->grad.zero_();
    last = m->run(ctx, ti, tt, Tensor(), 1.f, true).mean();
    if (s == 0) first = last;
    ASSERT_TRUE(host::train::clip_grad_norm(m->parameters(), 1.0).finite) << "step " << s;
    opt.step(s);
    for (auto& layer : m->layers())
      if (auto* moe = dynamic_cast<moe::MoeLayer*>(&layer->ffn()))
        moe->finish_step(moe->step_counts());
  }
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

TEST(ModelBuilder, UnknownNameListsWhatIsThere) {
  const Config c = parse_config(
      std::string(kTiny) + "[plugins]\nattention_global = \"attention.mla\"\n", "run.toml");
  const Registry reg = in_tree_plugins();
  try {
    host::train::build_model(c, reg, {Device::cpu(), false, 7});
    ADD_FAILURE() << "unknown attention accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[plugins].attention_global"), std::string::npos) << msg;
    EXPECT_NE(msg.find("attention.mla"), std::string::npos) << msg;
    EXPECT_NE(msg.find("attention.tpa"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace vpmoe::testing
