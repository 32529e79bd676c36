// Every error class: one ConfigError whose message is "file:line:column: [section].key: what
// was expected, what was found".
#include "core/config/config_test_util.h"

namespace vpmoe {
namespace {

using test::error_of;
using test::load_error_of;

TEST(ConfigErrors, SyntaxError) {
  EXPECT_EQ(error_of("[model]\nnum_layers = = 3\n").rfind("t.toml:2:14: TOML syntax error: ", 0),
            0u)
      << error_of("[model]\nnum_layers = = 3\n");
}

TEST(ConfigErrors, UnknownSection) {
  EXPECT_EQ(error_of("[model]\n[modle]\nx = 1\n"),
            "t.toml:2:2: [modle]: expected one of the sections [meta], [tokenizer], [model], "
            "[attention], [tpa], [grape], [moe], [optimizer], [run], [plugins], [loss], [data], "
            "[train], [parallel], [checkpoint], [log], found unknown section [modle] (did you mean "
            "\"model\"?)");
}

TEST(ConfigErrors, TopLevelKey) {
  EXPECT_EQ(error_of("num_layers = 3\n[model]\n")
                .rfind("t.toml:1:1: [num_layers]: expected one of the sections [meta], ", 0),
            0u);
}

TEST(ConfigErrors, SectionNotATable) {
  EXPECT_EQ(error_of("model = 3\n"), "t.toml:1:9: [model]: expected a table, found an integer (3)");
}

TEST(ConfigErrors, UnknownKey) {
  EXPECT_EQ(error_of("[model]\nnum_layers = 8\nhidden_sise = 1024\n"),
            "t.toml:3:1: [model].hidden_sise: expected a key of [model] (docs/config.md lists "
            "them), found unknown key \"hidden_sise\" (did you mean \"hidden_size\"?)");
}

TEST(ConfigErrors, WrongType) {
  EXPECT_EQ(error_of("[model]\nnum_layers = \"8\"\n"),
            "t.toml:2:14: [model].num_layers: expected an integer >= 1, found a string (\"8\")");
  EXPECT_EQ(error_of("[model]\nqk_layernorm = 1\n"),
            "t.toml:2:16: [model].qk_layernorm: expected a boolean (true or false), found an "
            "integer (1)");
  EXPECT_EQ(error_of("[model]\n[train]\ncheck_for_spiky_loss = \"yes\"\n"),
            "t.toml:3:24: [train].check_for_spiky_loss: expected a boolean (true or false), found "
            "a string (\"yes\")");
  EXPECT_EQ(error_of("[model]\n[train]\nlr = \"1e-4\"\n"),
            "t.toml:3:6: [train].lr: expected a number >= 0, found a string (\"1e-4\")");
  EXPECT_EQ(error_of("[model]\n[plugins]\npaths = \"dir\"\n"),
            "t.toml:3:9: [plugins].paths: expected an array of strings, found a string (\"dir\")");
  EXPECT_EQ(error_of("[model]\n[plugins]\npaths = [\"a\", 2]\n"),
            "t.toml:3:15: [plugins].paths[1]: expected a string, found an integer (2)");
  EXPECT_EQ(error_of("[model]\nnum_layers = 8.0\n"),
            "t.toml:2:14: [model].num_layers: expected an integer >= 1, found a float (8)");
}

// [loss] and [plugins] loss: every bad value names the file, line and key.
TEST(ConfigErrors, LossSection) {
  EXPECT_EQ(error_of("[model]\n[loss]\nreasoning_weight = -1\n"),
            "t.toml:3:20: [loss].reasoning_weight: expected a number >= 0, found an integer (-1)");
  EXPECT_EQ(error_of("[model]\n[loss]\nfinal_weight = \"1\"\n"),
            "t.toml:3:16: [loss].final_weight: expected a number >= 0, found a string (\"1\")");
  EXPECT_EQ(error_of("[model]\n[loss]\nkd_temperature = 0\n"),
            "t.toml:3:18: [loss].kd_temperature: expected a number > 0, found an integer (0)");
  EXPECT_EQ(error_of("[model]\n[loss]\nkd_weight_min = -0.5\n"),
            "t.toml:3:17: [loss].kd_weight_min: expected a number >= 0, found a float (-0.5)");
  EXPECT_EQ(error_of("[model]\n[loss]\nkd_weight_max = 0\n"),
            "t.toml:3:17: [loss].kd_weight_max: expected a number > 0, found an integer (0)");
  EXPECT_EQ(error_of("[model]\n[loss]\nkd_weight_min = 3\nkd_weight_max = 2\n"),
            "t.toml:3:17: [loss].kd_weight_min: expected at most kd_weight_max (2), found 3");
  EXPECT_EQ(error_of("[model]\n[loss]\nkd_weight_min = 3\n"),
            "t.toml:3:17: [loss].kd_weight_min: expected at most kd_weight_max (2), found 3");
  EXPECT_EQ(error_of("[model]\n[loss]\nreasoning_weight = 0\nfinal_weight = 0\n"),
            "t.toml:4:16: [loss].final_weight: expected reasoning_weight or final_weight > 0 (the "
            "objective would be zero), found both 0");
  EXPECT_EQ(error_of("[model]\n[loss]\nkd_center = \"runnin\"\n"),
            "t.toml:3:13: [loss].kd_center: expected \"running\" or a number (a fixed "
            "log-probability), found a string (\"runnin\")");
  EXPECT_EQ(error_of("[model]\n[loss]\nkd_center = true\n"),
            "t.toml:3:13: [loss].kd_center: expected \"running\" or a number (a fixed "
            "log-probability), found a boolean (true)");
  EXPECT_EQ(error_of("[model]\n[loss]\nkd_centre = 1\n"),
            "t.toml:3:1: [loss].kd_centre: expected a key of [loss] (docs/config.md lists them), "
            "found unknown key \"kd_centre\" (did you mean \"kd_center\"?)");
  EXPECT_EQ(error_of("[model]\n[plugins]\nloss = \"span_ce\"\n"),
            "t.toml:3:8: [plugins].loss: expected a spec name \"loss.<name>\" (lower_snake), "
            "found a string (\"span_ce\")");
}

TEST(ConfigErrors, OutOfRange) {
  EXPECT_EQ(error_of("[model]\nnum_layers = 0\n"),
            "t.toml:2:14: [model].num_layers: expected an integer >= 1, found an integer (0)");
  EXPECT_EQ(error_of("[model]\nnum_layers = 3000000000\n"),
            "t.toml:2:14: [model].num_layers: expected an integer >= 1, found an integer "
            "(3000000000)");
  EXPECT_EQ(error_of("[model]\n[attention]\nattention_dropout = 1.0\n"),
            "t.toml:3:21: [attention].attention_dropout: expected a number in [0, 1), found a "
            "float (1)");
  EXPECT_EQ(error_of("[model]\n[optimizer]\nnormuon_momentum = -0.1\n"),
            "t.toml:3:20: [optimizer].normuon_momentum: expected a number in [0, 1), found a "
            "float (-0.1)");
  EXPECT_EQ(error_of("[model]\n[moe]\naux_loss_coeff = nan\n"),
            "t.toml:3:18: [moe].aux_loss_coeff: expected a number >= 0, found a float (nan)");
  EXPECT_EQ(error_of("[model]\n[optimizer]\nnormuon_eps = 0\n"),
            "t.toml:3:15: [optimizer].normuon_eps: expected a number > 0, found an integer (0)");
  EXPECT_EQ(error_of("[model]\n[data]\nweights = [1, -1]\npaths = [\"a\", \"b\"]\n"),
            "t.toml:3:15: [data].weights[1]: expected a number > 0, found an integer (-1)");
}

TEST(ConfigErrors, EnumNotInItsSet) {
  EXPECT_EQ(error_of("[model]\nsoftmax_type = \"softmax\"\n"),
            "t.toml:2:16: [model].softmax_type: expected one of \"learnable\", \"vanilla\", "
            "\"off-by-one\", found a string (\"softmax\")");
  EXPECT_EQ(error_of("[model]\n[moe]\nrouter_score_function = \"tanh\"\n"),
            "t.toml:3:25: [moe].router_score_function: expected one of \"sigmoid\", \"softmax\", "
            "found a string (\"tanh\")");
  EXPECT_EQ(error_of("[model]\n[train]\nrecompute = \"selective\"\n"),
            "t.toml:3:13: [train].recompute: expected one of \"none\", \"moe\", \"attention\", "
            "\"full\", found a string (\"selective\")");
  EXPECT_EQ(error_of("[model]\n[train]\nrecompute = true\n"),
            "t.toml:3:13: [train].recompute: expected one of \"none\", \"moe\", \"attention\", "
            "\"full\", found a boolean (true)");
  EXPECT_EQ(error_of("[model]\n[plugins]\nmoe_router = \"router.x\"\n"),
            "t.toml:3:14: [plugins].moe_router: expected a spec name \"moe.router.<name>\" "
            "(lower_snake), found a string (\"router.x\")");
}

TEST(ConfigErrors, HiddenSizeMustBeHeadsTimesHeadDim) {
  EXPECT_EQ(error_of("[model]\nhidden_size = 1000\n"),
            "t.toml:2:15: [model].hidden_size: expected num_attention_heads × head_dim = 8 × 128 "
            "= 1024, found 1000");
  // Left at its default, the key is reported at its section.
  EXPECT_EQ(error_of("[model]\nhead_dim = 64\n"),
            "t.toml:1:1: [model].hidden_size: expected num_attention_heads × head_dim = 8 × 64 = "
            "512, found 1024");
}

TEST(ConfigErrors, HeadsDivisibleByQueryGroups) {
  EXPECT_EQ(error_of("[model]\nnum_query_groups = 3\n"),
            "t.toml:2:20: [model].num_query_groups: expected a divisor of num_attention_heads "
            "(8), found 3");
}

TEST(ConfigErrors, MoeRouting) {
  EXPECT_EQ(error_of("[model]\n[moe]\nnum_experts = 16\ntopk = 17\nrouter_num_groups = 2\n"
                     "router_group_topk = 1\n"),
            "t.toml:4:8: [moe].topk: expected at most num_experts (16), found 17");
  EXPECT_EQ(
      error_of("[model]\n[moe]\nnum_experts = 16\nrouter_num_groups = 3\n"),
      "t.toml:4:21: [moe].router_num_groups: expected a divisor of num_experts (16), found 3");
  EXPECT_EQ(error_of("[model]\n[moe]\nrouter_group_topk = 9\n"),
            "t.toml:3:21: [moe].router_group_topk: expected at most router_num_groups (8), "
            "found 9");
  EXPECT_EQ(error_of("[model]\n[moe]\nnum_experts = 16\ntopk = 4\nrouter_num_groups = 8\n"
                     "router_group_topk = 1\n"),
            "t.toml:4:8: [moe].topk: expected at most router_group_topk × experts per group = 2, "
            "found 4");
}

TEST(ConfigErrors, WindowPattern) {
  EXPECT_EQ(error_of("[model]\nnum_layers = 4\n[attention]\nwindow_attn_skip_freq = [1, 0, 1]\n"),
            "t.toml:4:25: [attention].window_attn_skip_freq: expected a list of num_layers (4) "
            "entries, found 3");
  EXPECT_EQ(error_of("[model]\nnum_layers = 2\n[attention]\nwindow_attn_skip_freq = [1, 2]\n"),
            "t.toml:4:29: [attention].window_attn_skip_freq[1]: expected an integer in [0, 1], "
            "found an integer (2)");
  EXPECT_EQ(error_of("[model]\n[attention]\nwindow_attn_skip_freq = 0\n"),
            "t.toml:3:25: [attention].window_attn_skip_freq: expected an integer >= 1, found an "
            "integer (0)");
  EXPECT_EQ(error_of("[model]\n[attention]\nwindow_attn_skip_freq = \"4\"\n"),
            "t.toml:3:25: [attention].window_attn_skip_freq: expected an integer >= 1 or a "
            "per-layer list of 0/1 (1 = windowed), found a string (\"4\")");
}

TEST(ConfigErrors, RunSections) {
  EXPECT_EQ(error_of("[model]\n[train]\nmicro_batch_size = 4\nglobal_batch_size = 6\n"),
            "t.toml:4:21: [train].global_batch_size: expected a multiple of micro_batch_size "
            "(4), found 6");
  EXPECT_EQ(error_of("[model]\n[train]\nlr = 1e-4\nmin_lr = 2e-4\n"),
            "t.toml:4:10: [train].min_lr: expected at most lr (0.0001), found 0.0002");
  EXPECT_EQ(error_of("[model]\n[parallel]\nexpert_model_parallel_size = 3\n"),
            "t.toml:3:30: [parallel].expert_model_parallel_size: expected a divisor of "
            "num_experts (256), found 3");
  EXPECT_EQ(error_of("[model]\n[data]\npaths = [\"a\"]\nweights = [1, 2]\n"),
            "t.toml:4:11: [data].weights: expected one weight per path (1), found 2");
}

TEST(ConfigErrors, MissingRequiredKeyPointsAtItsTable) {
  EXPECT_EQ(error_of("[model]\n\n[data]\nsource = \"indexed\"\n"),
            "t.toml:3:1: [data].paths: expected dataset prefixes (PREFIX of PREFIX.bin/.idx) "
            "when source = \"indexed\", found no paths key");
}

TEST(ConfigErrors, MissingModelSection) {
  EXPECT_EQ(error_of("[train]\nlr = 1e-4\n"),
            "t.toml:1:1: [model]: expected a [model] section in this file or in the file named "
            "by [run] model_config, found neither");
}

TEST(ConfigErrors, FilesAndModelConfig) {
  test::TempDir dir;
  EXPECT_EQ(load_error_of(dir.path("nope.toml")),
            dir.path("nope.toml") +
                ": cannot read the configuration file (No such file or "
                "directory)");
  std::string run = dir.write("r.toml", "[run]\nmodel_config = \"m.toml\"\n");
  EXPECT_EQ(load_error_of(run), run +
                                    ":2:16: [run].model_config: expected a readable vpMoE TOML "
                                    "file, found \"" +
                                    dir.path("m.toml") + "\" (No such file or directory)");
  // An error inside the model file points into the model file.
  std::string model = dir.write("m.toml", "[model]\n\nnum_layers = -1\n");
  EXPECT_EQ(load_error_of(run),
            model + ":3:14: [model].num_layers: expected an integer >= 1, found an integer (-1)");
  // A bad override points into the run file.
  dir.write("m.toml", "[model]\nnum_layers = 8\n");
  run = dir.write("r.toml", "[run]\nmodel_config = \"m.toml\"\n[model]\nnum_layers = 0\n");
  EXPECT_EQ(load_error_of(run),
            run + ":4:14: [model].num_layers: expected an integer >= 1, found an integer (0)");
  // A cross-key error names the file that holds the key.
  dir.write("m.toml", "[model]\nnum_layers = 4\n[attention]\nwindow_attn_skip_freq = [1,1,1,0]\n");
  run = dir.write("r.toml", "[run]\nmodel_config = \"m.toml\"\n[model]\nnum_layers = 8\n");
  EXPECT_EQ(load_error_of(run), dir.path("m.toml") +
                                    ":4:25: [attention].window_attn_skip_freq: expected a list of "
                                    "num_layers (8) entries, found 4");
  // Only one level of model_config.
  dir.write("m.toml", "[model]\n[run]\nmodel_config = \"x.toml\"\n");
  EXPECT_EQ(load_error_of(run), dir.path("m.toml") +
                                    ":3:16: [run].model_config: expected no model_config in a "
                                    "file that is itself a model_config (one level only)");
  // Syntax errors in the model file name it.
  dir.write("m.toml", "[model\n");
  EXPECT_EQ(load_error_of(run).rfind(dir.path("m.toml") + ":1:", 0), 0u) << load_error_of(run);
}

TEST(ConfigErrors, GroupTopkMustDivideTopk) {
  // vpMoE's own renderer refuses topk % router_group_topk != 0.
  EXPECT_EQ(error_of("[model]\n[moe]\ntopk = 4\nrouter_group_topk = 3\n"),
            "t.toml:4:21: [moe].router_group_topk: expected a divisor of topk (4), found 3");
}

TEST(ConfigLoad, ReferenceChoicesAccepted) {
  Config c =
      parse_config("[model]\nactivation = \"swiglu\"\n[moe]\nrouter_dtype = \"fp64\"\n", "t.toml");
  EXPECT_EQ(c.model.activation, "swiglu");
  EXPECT_EQ(c.moe.router_dtype, "fp64");
}

}  // namespace
}  // namespace vpmoe
