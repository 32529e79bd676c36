// A third-party optimizer plugin (tests/host/train/sgd_test_plugin.cpp, loaded from its own file)
// in both roles: [optimizer] name = "sgd_test" takes the matrices, [plugins] optimizer_aux =
// "optimizer.sgd_test" the rest (embeddings, head, vectors); each group steps every parameter
// by exactly w - lr g, also behind the distributed optimizer.
#include <gtest/gtest.h>

#include "core/ops_cpu/cpu_test_util.h"
#include "host/train/tiny_model.h"
#include "train/model_builder.h"
#include "train/optimizer_set.h"

namespace vpmoe::testing {
namespace {

using host::train::OptimizerSet;

Registry with_sgd_test() {
  Registry reg = in_tree_plugins();
  const auto report = load_plugins({VPMOE_SGD_TEST_PLUGIN}, reg);
  for (const auto& e : report.errors) ADD_FAILURE() << e.message;
  return reg;
}

void check_roles(const std::string& optimizer_keys, const std::string& plugins_keys,
                 bool distributed, const char* matrix_spec, const char* aux_spec) {
  const Config c =
      tiny_config("", "[optimizer]\n" + optimizer_keys + "[plugins]\n" + plugins_keys +
                          "[train]\nlr = 0.5\nmin_lr = 0.5\n[parallel]\ndistributed_optimizer = " +
                          (distributed ? "true\n" : "false\n"));
  const Registry reg = with_sgd_test();
  auto model = host::train::build_model(c, reg, host::train::ModelTarget{Device::cpu(), false, 7});
  OptimizerSet set(c, reg, model->parameters());
  std::mt19937 g(3);
  std::vector<Tensor> before, grads;
  for (Parameter* p : model->parameters()) {
    p->grad.copy_from(rand_tensor(g, p->value.shape()));
    before.push_back(p->value.clone());
    grads.push_back(p->grad.clone());
  }
  for (const OptimizerSet::Group& grp : set.groups())
    EXPECT_EQ(grp.spec, grp.group == OptimizerGroup::matrix ? matrix_spec : aux_spec)
        << optimizer_group_name(grp.group);
  const auto lrs = set.step(0);
  const auto params = model->parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const OptimizerGroup grp = optimizer_group(*params[i]);
    const bool sgd =
        std::string(grp == OptimizerGroup::matrix ? matrix_spec : aux_spec) == "optimizer.sgd_test";
    if (!sgd) continue;
    const double lr = lrs.at(grp);
    const std::vector<float> w0 = before[i].to_floats(), gr = grads[i].to_floats(),
                             w1 = params[i]->value.to_floats();
    for (std::size_t j = 0; j < w0.size(); ++j)
      ASSERT_EQ(w1[j], w0[j] + float(-lr) * gr[j]) << params[i]->name << "[" << j << "]";
  }
}

TEST(OptimizerPluginRoles, AuxKeyChoosesTheOptimizerOfEmbeddingsHeadAndVectors) {
  for (bool distributed : {false, true}) {
    SCOPED_TRACE(distributed ? "distributed" : "plain");
    check_roles("name = \"normuon\"\n", "optimizer_aux = \"optimizer.sgd_test\"\n", distributed,
                "optimizer.normuon", "optimizer.sgd_test");
  }
}

TEST(OptimizerPluginRoles, NameChoosesAThirdPartyMatrixOptimizer) {
  for (bool distributed : {false, true}) {
    SCOPED_TRACE(distributed ? "distributed" : "plain");
    check_roles("name = \"sgd_test\"\n", "", distributed, "optimizer.sgd_test", "optimizer.adamw");
    check_roles("name = \"sgd_test\"\n", "optimizer_aux = \"optimizer.sgd_test\"\n", distributed,
                "optimizer.sgd_test", "optimizer.sgd_test");
  }
}

TEST(OptimizerPluginRoles, AnUnknownAuxOptimizerIsRefusedByName) {
  const Config c = tiny_config("", "[plugins]\noptimizer_aux = \"optimizer.nope\"\n");
  const Registry reg = with_sgd_test();
  auto model = host::train::build_model(c, reg, host::train::ModelTarget{Device::cpu(), false, 7});
  try {
    OptimizerSet set(c, reg, model->parameters());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer.nope"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vpmoe::testing
