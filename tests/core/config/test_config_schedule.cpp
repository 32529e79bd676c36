// The layer schedule: global layers (int and list forms of window_attn_skip_freq), dense layer 1.
#include "core/config/config_test_util.h"

namespace vpmoe {
namespace {

TEST(ConfigSchedule, LockedConfigEveryFourthLayerGlobalFirstLayerDense) {
  Config c = load_config(std::string(VPMOE_TEST_CONFIG_DIR) + "/vpmoe.toml");
  std::vector<int> global;
  int moe = 0;
  for (int l = 1; l <= 80; ++l) {
    if (c.layer_is_global(l)) global.push_back(l);
    moe += c.layer_is_moe(l);
  }
  std::vector<int> expected;
  for (int l = 4; l <= 80; l += 4) expected.push_back(l);
  EXPECT_EQ(global, expected);  // 4, 8, ..., 80: 20 global, 60 local
  EXPECT_FALSE(c.layer_is_global(1));
  EXPECT_FALSE(c.layer_is_moe(1));
  EXPECT_TRUE(c.layer_is_moe(2));
  EXPECT_TRUE(c.layer_is_moe(80));
  EXPECT_EQ(moe, 79);
}

TEST(ConfigSchedule, DevConfig) {
  Config c = load_config(std::string(VPMOE_TEST_CONFIG_DIR) + "/vpmoe_dev.toml");
  std::vector<int> global;
  for (int l = 1; l <= 8; ++l)
    if (c.layer_is_global(l)) global.push_back(l);
  EXPECT_EQ(global, (std::vector<int>{4, 8}));
}

TEST(ConfigSchedule, ListFormOneMeansWindowed) {
  Config c = parse_config(
      "[model]\nnum_layers = 5\n[attention]\nwindow_attn_skip_freq = [1, 1, 0, 1, 0]\n", "t.toml");
  EXPECT_EQ(c.attention.window_attn_skip_freq, 0);
  EXPECT_EQ(c.attention.window_attn_pattern, (std::vector<int>{1, 1, 0, 1, 0}));
  std::vector<bool> g;
  for (int l = 1; l <= 5; ++l) g.push_back(c.layer_is_global(l));
  EXPECT_EQ(g, (std::vector<bool>{false, false, true, false, true}));
}

TEST(ConfigSchedule, RunTomlIntOverridesModelList) {
  test::TempDir dir;
  dir.write("m.toml", "[model]\nnum_layers = 3\n[attention]\nwindow_attn_skip_freq = [0, 0, 0]\n");
  std::string run = dir.write("r.toml",
                              "[run]\nmodel_config = \"m.toml\"\n"
                              "[attention]\nwindow_attn_skip_freq = 3\n");
  Config c = load_config(run);
  EXPECT_TRUE(c.attention.window_attn_pattern.empty());
  EXPECT_FALSE(c.layer_is_global(1));
  EXPECT_TRUE(c.layer_is_global(3));
}

TEST(ConfigSchedule, FrequencyOneAllGlobalAndNoDenseLayer) {
  Config c = parse_config(
      "[model]\nnum_layers = 3\n[attention]\nwindow_attn_skip_freq = 1\n"
      "[moe]\nfirst_layer_dense = false\n",
      "t.toml");
  for (int l = 1; l <= 3; ++l) {
    EXPECT_TRUE(c.layer_is_global(l));
    EXPECT_TRUE(c.layer_is_moe(l));
  }
  EXPECT_THROW(c.layer_is_global(0), Error);
  EXPECT_THROW(c.layer_is_moe(4), Error);
}

}  // namespace
}  // namespace vpmoe
