// build_model: the in-tree plugins (loaded as .so files from the build tree) assemble a small
// vpMoE (TPA local / GQA global on the 3:1 schedule, GRAPE-M / GRAPE-A, dense layer 1, MoE
// layers with a shared expert); its layers carry the plugins' spec names, parameter names are
// unique, one forward/backward gives a finite loss near log V and finite grads; an unknown name
// fails with the [plugins] key and the names that exist.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "host/train/tiny_model.h"
#include "train/model_builder.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {
namespace {

TEST(ModelBuilder, AssemblesTheLayerRolesFromSpecNames) {
  const Config c = tiny_config();
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

TEST(ModelBuilder, UnknownNameListsWhatIsThere) {
  const Config c = tiny_config("", "[plugins]\nattention_global = \"attention.mla\"\n");
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
