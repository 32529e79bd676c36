// The public vpMoE configs load unchanged with their documented values; run.toml extends a
// model_config; values of every type land in the typed structs.
#include <unistd.h>

#include "core/config/config_test_util.h"

namespace vpmoe {
namespace {

const std::string kData = VPMOE_TEST_CONFIG_DIR;
const std::string kConfigs = VPMOE_CONFIGS_DIR;

void expect_shared_values(const Config& c) {
  EXPECT_EQ(c.tokenizer.vocab_size, 201088);
  EXPECT_EQ(c.model.hidden_size, 1024);
  EXPECT_EQ(c.model.num_attention_heads, 8);
  EXPECT_EQ(c.model.num_query_groups, 2);
  EXPECT_EQ(c.model.head_dim, 128);
  EXPECT_EQ(c.model.ffn_hidden_size, 128);
  EXPECT_TRUE(c.model.value_residual);
  EXPECT_DOUBLE_EQ(c.model.value_residual_init, 1.0);
  EXPECT_EQ(c.model.normalization, "RMSNorm");
  EXPECT_TRUE(c.model.qk_layernorm);
  EXPECT_EQ(c.model.softmax_type, "learnable");
  EXPECT_TRUE(c.model.add_bias_linear);
  EXPECT_TRUE(c.model.add_qkv_bias);
  EXPECT_FALSE(c.model.gated_linear_unit);
  EXPECT_EQ(c.model.activation, "squaredrelu");
  EXPECT_TRUE(c.model.untied_embeddings);
  EXPECT_DOUBLE_EQ(c.attention.attention_dropout, 0.0);
  EXPECT_EQ(c.attention.max_sequence_length, 2048);
  EXPECT_EQ(c.attention.position_embedding_type, "grapem");
  EXPECT_EQ(c.attention.window_size, 128);
  EXPECT_EQ(c.attention.window_attn_skip_freq, 4);
  EXPECT_TRUE(c.attention.window_attn_pattern.empty());
  EXPECT_TRUE(c.tpa.use_tpa);
  EXPECT_EQ(c.tpa.tpa_rank, 2);
  EXPECT_EQ(c.tpa.tpa_q_rank, 4);
  EXPECT_TRUE(c.grape.grape_a);
  EXPECT_TRUE(c.grape.grapem_learnable_freq);
  EXPECT_TRUE(c.grape.grapem_share_across_heads);
  EXPECT_DOUBLE_EQ(c.grape.grapem_log_freq_scale, 16.0);
  EXPECT_TRUE(c.moe.shared_expert);
  EXPECT_TRUE(c.moe.first_layer_dense);
  EXPECT_EQ(c.moe.router_load_balancing_type, "seq_aux_loss");
  EXPECT_DOUBLE_EQ(c.moe.aux_loss_coeff, 1e-4);
  EXPECT_EQ(c.moe.router_score_function, "sigmoid");
  EXPECT_DOUBLE_EQ(c.moe.router_topk_scaling_factor, 2.5);
  EXPECT_TRUE(c.moe.router_enable_expert_bias);
  EXPECT_DOUBLE_EQ(c.moe.router_bias_update_rate, 1e-3);
  EXPECT_EQ(c.moe.router_dtype, "fp32");
  EXPECT_FALSE(c.moe.grouped_gemm);
  EXPECT_FALSE(c.moe.permute_fusion);
  EXPECT_FALSE(c.moe.router_fusion);
  EXPECT_EQ(c.optimizer.name, "normuon");
  EXPECT_DOUBLE_EQ(c.optimizer.normuon_momentum, 0.95);
  EXPECT_DOUBLE_EQ(c.optimizer.normuon_beta2, 0.95);
  EXPECT_DOUBLE_EQ(c.optimizer.normuon_eps, 1e-10);
  EXPECT_DOUBLE_EQ(c.optimizer.polar_express_safety_factor, 2e-2);
  EXPECT_FALSE(c.optimizer.normuon_aux_lr.has_value());
}

void expect_locked(const Config& c) {
  expect_shared_values(c);
  EXPECT_EQ(c.model.num_layers, 80);
  EXPECT_EQ(c.moe.num_experts, 256);
  EXPECT_EQ(c.moe.topk, 4);
  EXPECT_EQ(c.moe.shared_expert_size, 512);
  EXPECT_EQ(c.moe.router_num_groups, 8);
  EXPECT_EQ(c.moe.router_group_topk, 4);
}

void expect_dev(const Config& c) {
  expect_shared_values(c);
  EXPECT_EQ(c.model.num_layers, 8);
  EXPECT_EQ(c.moe.num_experts, 16);
  EXPECT_EQ(c.moe.topk, 2);
  EXPECT_EQ(c.moe.shared_expert_size, 256);
  EXPECT_EQ(c.moe.router_num_groups, 2);
  EXPECT_EQ(c.moe.router_group_topk, 1);
}

TEST(ConfigLoad, PublicLockedConfigLoadsUnchanged) {
  Config c = load_config(kData + "/vpmoe.toml");
  expect_locked(c);
  EXPECT_EQ(c.path, kData + "/vpmoe.toml");
  EXPECT_TRUE(c.run.model_config.empty());
  // Run sections untouched: their defaults.
  EXPECT_EQ(c.train.micro_batch_size, 1);
  EXPECT_EQ(c.run.seed, 1234u);
  EXPECT_DOUBLE_EQ(c.train.weight_decay, 0.01);
  EXPECT_EQ(c.plugins.attention_local, "attention.tpa");
}

TEST(ConfigLoad, PublicDevConfigLoadsUnchanged) {
  expect_dev(load_config(kData + "/vpmoe_dev.toml"));
}

TEST(ConfigLoad, ProjectCopiesMatchThePublicConfigs) {
  expect_locked(load_config(kConfigs + "/vpmoe.toml"));
  expect_dev(load_config(kConfigs + "/vpmoe_dev.toml"));
}

TEST(ConfigLoad, ProjectRunConfigsLoad) {
  Config dev = load_config(kConfigs + "/run_vpmoe_dev.toml");
  expect_dev(dev);
  EXPECT_EQ(dev.run.name, "vpmoe_dev");
  EXPECT_EQ(dev.train.micro_batch_size, 4);
  EXPECT_EQ(dev.run.model_config, kConfigs + "/vpmoe_dev.toml");
  Config locked = load_config(kConfigs + "/run_vpmoe.toml");
  expect_locked(locked);
  EXPECT_EQ(locked.parallel.expert_model_parallel_size, 8);
  EXPECT_EQ(locked.train.lr_decay_style, "cosine");
}

TEST(ConfigLoad, RunTomlExtendsAndOverridesItsModelConfig) {
  test::TempDir dir;
  dir.write("models/dev.toml",
            "[model]\nnum_layers = 8\n[moe]\nnum_experts = 16\ntopk = 2\nrouter_num_groups = 2\n"
            "router_group_topk = 1\n[train]\nlr = 3e-4\nmin_lr = 0\n");
  std::string run = dir.write("run.toml",
                              "[run]\nmodel_config = \"models/dev.toml\"\nname = \"x\"\n"
                              "[moe]\ntopk = 1\n[train]\nmicro_batch_size = 2\n"
                              "global_batch_size = 8\n");
  Config c = load_config(run);
  EXPECT_EQ(c.model.num_layers, 8);    // from the model file
  EXPECT_EQ(c.moe.num_experts, 16);    // from the model file
  EXPECT_EQ(c.moe.topk, 1);            // overridden
  EXPECT_DOUBLE_EQ(c.train.lr, 3e-4);  // a run section in the model file is read as well
  EXPECT_EQ(c.train.global_batch_size, 8);
  EXPECT_EQ(c.run.name, "x");
  EXPECT_EQ(c.run.model_config, dir.path("models/dev.toml"));
  EXPECT_EQ(c.origin("moe.topk"), run + ":5:8");
  EXPECT_EQ(c.origin("moe.num_experts"), dir.path("models/dev.toml") + ":4:15");
}

TEST(ConfigLoad, PublicConfigAsModelConfig) {
  test::TempDir dir;
  std::string run = dir.write(
      "run.toml", "[run]\nmodel_config = \"" + kData + "/vpmoe.toml\"\n[train]\nlr = 2e-4\n");
  Config c = load_config(run);
  expect_locked(c);
  EXPECT_DOUBLE_EQ(c.train.lr, 2e-4);
}

TEST(ConfigLoad, IntegersAreAcceptedForFloatKeys) {
  Config c =
      parse_config("[model]\nvalue_residual_init = 1\n[train]\nlr = 1\nclip_grad = 0\n", "t.toml");
  EXPECT_DOUBLE_EQ(c.model.value_residual_init, 1.0);
  EXPECT_DOUBLE_EQ(c.train.lr, 1.0);
  EXPECT_DOUBLE_EQ(c.train.clip_grad, 0.0);
}

TEST(ConfigLoad, LossDefaultsAndValues) {
  const Config d = parse_config("[model]\n", "t.toml");
  EXPECT_EQ(d.plugins.loss, "loss.ce");
  EXPECT_EQ(d.loss.reasoning_weight, 1.0);
  EXPECT_EQ(d.loss.final_weight, 1.0);
  EXPECT_EQ(d.loss.kd_temperature, 1.0);
  EXPECT_EQ(d.loss.kd_weight_min, 0.5);
  EXPECT_EQ(d.loss.kd_weight_max, 2.0);
  EXPECT_FALSE(d.loss.kd_center);  // "running"
  const Config c = parse_config(
      "[model]\n[plugins]\nloss = \"loss.kd_weighted_ce\"\n[loss]\nreasoning_weight = 0.25\n"
      "final_weight = 0\nkd_temperature = 2\nkd_weight_min = 0\nkd_weight_max = 4\n"
      "kd_center = -1.25\n",
      "t.toml");
  EXPECT_EQ(c.plugins.loss, "loss.kd_weighted_ce");
  EXPECT_EQ(c.loss.reasoning_weight, 0.25);
  EXPECT_EQ(c.loss.final_weight, 0.0);
  EXPECT_EQ(c.loss.kd_temperature, 2.0);
  EXPECT_EQ(c.loss.kd_weight_min, 0.0);
  EXPECT_EQ(c.loss.kd_weight_max, 4.0);
  EXPECT_EQ(c.loss.kd_center, -1.25);
  EXPECT_FALSE(parse_config("[model]\n[loss]\nkd_center = \"running\"\n", "t.toml").loss.kd_center);
  EXPECT_EQ(parse_config("[model]\n[loss]\nkd_center = -3\n", "t.toml").loss.kd_center, -3.0);
}

TEST(ConfigLoad, CheckForSpikyLossIsOffUnlessAsked) {
  EXPECT_FALSE(parse_config("[model]\n", "t.toml").train.check_for_spiky_loss);
  EXPECT_TRUE(parse_config("[model]\n[train]\ncheck_for_spiky_loss = true\n", "t.toml")
                  .train.check_for_spiky_loss);
}

TEST(ConfigLoad, RecomputeIsNoneUnlessAsked) {
  EXPECT_EQ(parse_config("[model]\n", "t.toml").train.recompute, "none");
  for (const char* mode : {"none", "moe", "attention", "full"})
    EXPECT_EQ(
        parse_config(std::string("[model]\n[train]\nrecompute = \"") + mode + "\"\n", "t.toml")
            .train.recompute,
        mode);
}

TEST(ConfigLoad, AllValueKindsLand) {
  Config c = parse_config(R"(
[meta]
anything = [1, "two", { three = 3 }]
[model]
[optimizer]
name = "adamw"
normuon_aux_lr = 1e-3
normuon_aux_min_lr = 1e-4
[run]
seed = 42
device = "cpu"
[plugins]
paths = ["a", "b"]
attention_local = "attention.my_attention"
moe_router = "moe.router.custom_v2"
[data]
source = "indexed"
paths = ["p1", "p2"]
weights = [1, 0.5]
[train]
decoupled_lr = 5e-4
[log]
level = "debug"
progress = false
)",
                          "t.toml");
  EXPECT_EQ(c.optimizer.name, "adamw");
  EXPECT_DOUBLE_EQ(*c.optimizer.normuon_aux_lr, 1e-3);
  EXPECT_EQ(c.run.seed, 42u);
  EXPECT_EQ(c.run.device, "cpu");
  EXPECT_EQ(c.plugins.paths, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.plugins.attention_local, "attention.my_attention");
  EXPECT_EQ(c.plugins.moe_router, "moe.router.custom_v2");
  EXPECT_EQ(c.data.weights, (std::vector<double>{1.0, 0.5}));
  EXPECT_DOUBLE_EQ(*c.train.decoupled_lr, 5e-4);
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_FALSE(c.log.progress);
}

TEST(ConfigLoad, OriginsAndPluginFailures) {
  Config c = parse_config("[tokenizer]\nvocab_size = 1000\n[model]\n", "t.toml");
  EXPECT_EQ(c.origin("tokenizer.vocab_size"), "t.toml:2:14");
  EXPECT_EQ(c.origin("tokenizer.path"), "t.toml:1:1");  // default: its section
  EXPECT_EQ(c.origin("train.lr"), "t.toml:1:1");        // no section either: the file
  try {
    c.fail("tokenizer.vocab_size", "expected 201088, found 1000");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "t.toml:2:14: [tokenizer].vocab_size: expected 201088, found 1000");
  }
}

}  // namespace
}  // namespace vpmoe
