// OptimizerSet: every parameter reaches the optimizer of its group, each group steps with its
// own schedule's learning rate and the run's weight decay, [optimizer] name picks the matrix
// optimizer, state round-trips with group prefixes, and an unknown name lists what exists.
#include <gtest/gtest.h>

#include "train/optimizer_set.h"
#include "vpmoe/config.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

using host::train::OptimizerSet;

// Records what it is given; its state is one counter per parameter.
struct Recorder final : Optimizer {
  std::string name;
  std::vector<Parameter*> params;
  std::vector<OptimizerStep> steps;
  explicit Recorder(std::string n) : name(std::move(n)) {}
  std::string spec_name() const override { return name; }
  void add_parameters(const std::vector<Parameter*>& ps) override {
    params.insert(params.end(), ps.begin(), ps.end());
  }
  void step(const OptimizerStep& s) override { steps.push_back(s); }
  std::map<std::string, Tensor> state() const override {
    std::map<std::string, Tensor> m;
    for (Parameter* p : params)
      m[p->name] = Tensor::from_floats({float(steps.size())}, {1}, DType::f32);
    return m;
  }
  void load_state(const std::map<std::string, Tensor>& st) override {
    for (Parameter* p : params)
      if (!st.count(p->name)) throw Error("missing " + p->name);
    loaded = st.size();
  }
  std::size_t loaded = 0;
};

Registry recording_registry() {
  Registry reg;
  for (const char* n : {"optimizer.normuon", "optimizer.adamw"})
    reg.add<Optimizer>(n, [n](const BuildArgs&) { return std::make_unique<Recorder>(n); });
  return reg;
}

Config config(const std::string& opt) {
  return parse_config(
      "[model]\nnum_layers = 2\nhidden_size = 8\nhead_dim = 2\nnum_attention_heads = 4\n"
      "num_query_groups = 2\n[train]\nlr = 1e-3\nmin_lr = 1e-4\nlr_warmup_iters = 4\n"
      "lr_decay_style = \"linear\"\ntrain_iters = 20\nweight_decay = 0.05\n"
      "decoupled_lr = 5e-3\n[optimizer]\n" +
          opt,
      "run.toml");
}

struct Params {
  std::vector<Parameter> ps;
  Params() {
    auto add = [&](const char* n, ParamRole r, Shape s) {
      ps.push_back(Parameter::make(n, std::move(s), r, Device::cpu()));
    };
    add("w", ParamRole::matrix, {4, 4});
    add("experts", ParamRole::expert_matrix, {2, 4, 4});
    add("router", ParamRole::router, {3, 4});
    add("b", ParamRole::bias, {4});
    add("norm", ParamRole::norm, {4});
    add("embedding", ParamRole::embedding, {10, 4});
    add("output", ParamRole::output, {10, 4});
  }
  std::vector<Parameter*> list() {
    std::vector<Parameter*> l;
    for (Parameter& p : ps) l.push_back(&p);
    return l;
  }
};

Recorder& recorder(const OptimizerSet& set, OptimizerGroup g) {
  for (const auto& grp : set.groups())
    if (grp.group == g) return static_cast<Recorder&>(*grp.optimizer);
  throw Error("no group " + std::string(optimizer_group_name(g)));
}

TEST(OptimizerSet, GroupsStepWithTheirOwnSchedules) {
  const Config c = config("normuon_aux_lr = 2e-3\n");
  const Registry reg = recording_registry();
  Params p;
  OptimizerSet set(c, reg, p.list());
  ASSERT_EQ(set.groups().size(), 3u);
  const Recorder &m = recorder(set, OptimizerGroup::matrix),
                 &a = recorder(set, OptimizerGroup::aux),
                 &e = recorder(set, OptimizerGroup::embedding_output);
  EXPECT_EQ(m.name, "optimizer.normuon");
  EXPECT_EQ(a.name, "optimizer.adamw");
  EXPECT_EQ(m.params.size(), 3u);
  EXPECT_EQ(a.params.size(), 2u);
  EXPECT_EQ(e.params.size(), 2u);
  for (std::int64_t s = 0; s < 8; ++s) {
    const auto lrs = set.step(s);
    for (auto [g, want] :
         std::map<OptimizerGroup, LrRange>{{OptimizerGroup::matrix, {1e-3, 1e-4}},
                                           {OptimizerGroup::aux, {2e-3, 1e-4}},
                                           {OptimizerGroup::embedding_output, {5e-3, 1e-4}}}) {
      const double lr = host::train::LrSchedule(c.train, want).at(s);
      EXPECT_DOUBLE_EQ(lrs.at(g), lr) << optimizer_group_name(g) << " step " << s;
      const OptimizerStep& got = recorder(set, g).steps.back();
      EXPECT_DOUBLE_EQ(got.lr, lr);
      EXPECT_EQ(got.step, s);
      EXPECT_DOUBLE_EQ(got.weight_decay, 0.05);
    }
  }
  EXPECT_DOUBLE_EQ(set.step(2).at(OptimizerGroup::matrix), 1e-3 * 2 / 4) << "warmup";
}

TEST(OptimizerSet, NameChoosesTheMatrixOptimizerAndStateKeepsGroups) {
  const Registry reg = recording_registry();
  Params p;
  OptimizerSet adam(config("name = \"adamw\"\n"), reg, p.list());
  EXPECT_EQ(recorder(adam, OptimizerGroup::matrix).name, "optimizer.adamw");
  const auto st = adam.state();
  EXPECT_EQ(st.count("matrix/experts"), 1u);
  EXPECT_EQ(st.count("embedding_output/output"), 1u);
  adam.load_state(st);
  EXPECT_EQ(recorder(adam, OptimizerGroup::aux).loaded, 2u) << "only its own keys";
  auto missing = st;
  missing.erase("aux/norm");
  EXPECT_THROW(adam.load_state(missing), Error);
}

TEST(OptimizerSet, UnknownOptimizerListsTheNames) {
  const Registry reg = recording_registry();
  Params p;
  try {
    OptimizerSet set(config("name = \"lion\"\n"), reg, p.list());
    ADD_FAILURE() << "unknown optimizer accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("optimizer.lion"), std::string::npos) << msg;
    EXPECT_NE(msg.find("optimizer.normuon"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace vpmoe::testing
