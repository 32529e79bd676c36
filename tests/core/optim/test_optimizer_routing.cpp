// optimizer_group routes by role and shape (spec/optimizer.md §1), and group_lr gives each
// group its learning-rate range (§5): aux lr for AdamW when set, decoupled lr for the
// embedding and output when set.
#include <gtest/gtest.h>

#include "vpmoe/config.h"
#include "vpmoe/optimizer.h"

namespace vpmoe::testing {
namespace {

Parameter param(ParamRole role, Shape shape) {
  return Parameter::make("p", std::move(shape), role, Device::cpu());
}

TEST(OptimizerRouting, ByRoleAndShapeNotByName) {
  EXPECT_EQ(optimizer_group(param(ParamRole::matrix, {4, 6})), OptimizerGroup::matrix);
  EXPECT_EQ(optimizer_group(param(ParamRole::router, {8, 6})), OptimizerGroup::matrix);
  EXPECT_EQ(optimizer_group(param(ParamRole::expert_matrix, {3, 4, 6})), OptimizerGroup::matrix);
  EXPECT_EQ(optimizer_group(param(ParamRole::embedding, {10, 6})),
            OptimizerGroup::embedding_output);
  EXPECT_EQ(optimizer_group(param(ParamRole::output, {10, 6})), OptimizerGroup::embedding_output);
  for (ParamRole r : {ParamRole::bias, ParamRole::norm, ParamRole::vector})
    EXPECT_EQ(optimizer_group(param(r, {6})), OptimizerGroup::aux) << role_name(r);
  // Expert biases are 2-D [E, C] but biases; a 1-D "matrix" is not a matrix.
  EXPECT_EQ(optimizer_group(param(ParamRole::bias, {3, 6})), OptimizerGroup::aux);
  EXPECT_EQ(optimizer_group(param(ParamRole::matrix, {6})), OptimizerGroup::aux);
  EXPECT_EQ(optimizer_group(param(ParamRole::expert_matrix, {4, 6})), OptimizerGroup::aux);
  EXPECT_EQ(optimizer_group_name(OptimizerGroup::embedding_output), "embedding_output");
}

Config with(const std::string& train, const std::string& opt) {
  return parse_config(
      "[model]\nnum_layers = 2\nhidden_size = 8\nhead_dim = 2\nnum_attention_heads = 4\n"
      "num_query_groups = 2\n[train]\n" +
          train + "[optimizer]\n" + opt,
      "run.toml");
}

TEST(OptimizerRouting, LearningRatesPerGroup) {
  const Config plain = with("lr = 3e-4\nmin_lr = 3e-5\n", "");
  for (OptimizerGroup g :
       {OptimizerGroup::matrix, OptimizerGroup::aux, OptimizerGroup::embedding_output}) {
    EXPECT_DOUBLE_EQ(group_lr(g, plain).max_lr, 3e-4) << optimizer_group_name(g);
    EXPECT_DOUBLE_EQ(group_lr(g, plain).min_lr, 3e-5) << optimizer_group_name(g);
  }
  const Config aux =
      with("lr = 3e-4\nmin_lr = 3e-5\n", "normuon_aux_lr = 1e-3\nnormuon_aux_min_lr = 1e-4\n");
  EXPECT_DOUBLE_EQ(group_lr(OptimizerGroup::matrix, aux).max_lr, 3e-4);
  EXPECT_DOUBLE_EQ(group_lr(OptimizerGroup::aux, aux).max_lr, 1e-3);
  EXPECT_DOUBLE_EQ(group_lr(OptimizerGroup::aux, aux).min_lr, 1e-4);
  EXPECT_DOUBLE_EQ(group_lr(OptimizerGroup::embedding_output, aux).max_lr, 1e-3)
      << "embedding and output follow the aux rate without decoupled_lr";
  const Config dec =
      with("lr = 3e-4\nmin_lr = 3e-5\ndecoupled_lr = 5e-3\ndecoupled_min_lr = 5e-4\n",
           "normuon_aux_lr = 1e-3\n");
  EXPECT_DOUBLE_EQ(group_lr(OptimizerGroup::embedding_output, dec).max_lr, 5e-3);
  EXPECT_DOUBLE_EQ(group_lr(OptimizerGroup::embedding_output, dec).min_lr, 5e-4);
  EXPECT_DOUBLE_EQ(group_lr(OptimizerGroup::aux, dec).max_lr, 1e-3);
  EXPECT_DOUBLE_EQ(group_lr(OptimizerGroup::aux, dec).min_lr, 3e-5) << "aux min falls back";
  const Config adam =
      with("lr = 3e-4\nmin_lr = 3e-5\n", "name = \"adamw\"\nnormuon_aux_lr = 1e-3\n");
  EXPECT_DOUBLE_EQ(group_lr(OptimizerGroup::aux, adam).max_lr, 3e-4) << "aux lr is NorMuon's";
}

}  // namespace
}  // namespace vpmoe::testing
