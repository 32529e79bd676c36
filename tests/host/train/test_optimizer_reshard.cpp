// Optimizer state re-sharding (optimizer_reshard.h) with the real AdamW and NorMuon plugins:
// pieces stepped by several "ranks" (plugin instances over the plans' views, in one process)
// give the weights of one unsharded optimizer bit for bit, and the state saved by any layout
// (plain, 1, 2 or 3 ranks) re-shards into any other equal to what that layout computed itself;
// training goes on from a re-sharded state with the same bits.
#include <gtest/gtest.h>

#include <deque>

#include "host/train/tiny_model.h"
#include "train/optimizer_reshard.h"
#include "train/shard_plan.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"
#include "vpmoe/optimizer.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

// One optimizer group's parameters, with fixed initial values and per-step grads.
struct Group {
  std::vector<Parameter> ps;
  explicit Group(bool matrices) {
    auto add = [&](const char* n, ParamRole r, Shape s, bool expert = false) {
      ps.push_back(Parameter::make(n, std::move(s), r, Device::cpu()));
      ps.back().sharding = expert ? Sharding::expert : Sharding::replicated;
      ops::init_normal(ps.back().value, 0.f, 0.5f, parameter_seed(3, n));
    };
    if (matrices) {
      add("w", ParamRole::matrix, {6, 4});
      add("experts.w1", ParamRole::expert_matrix, {5, 3, 4}, true);
      add("router", ParamRole::router, {4, 6});
    } else {
      add("b", ParamRole::bias, {7});
      add("lambda", ParamRole::vector, {});
      add("embedding", ParamRole::embedding, {10, 4});
      add("experts.b1", ParamRole::bias, {5, 3}, true);
    }
  }
  std::vector<Parameter*> list() {
    std::vector<Parameter*> l;
    for (Parameter& p : ps) l.push_back(&p);
    return l;
  }
  void grads(int step) {
    for (Parameter& p : ps) ops::init_normal(p.grad, 0.f, 1.f, parameter_seed(100 + step, p.name));
  }
  std::map<std::string, std::vector<float>> values() const {
    std::map<std::string, std::vector<float>> v;
    for (const Parameter& p : ps) v[p.name] = p.value.to_floats();
    return v;
  }
};

// ranks = 0: one plain optimizer over the whole parameters; else one optimizer per rank over
// that rank's pieces of the plan.
struct Layout {
  std::string spec;
  Group group;
  int ranks;
  std::vector<std::deque<Parameter>> views;
  std::vector<std::unique_ptr<Optimizer>> opts;
  Config c = tiny_config();
  Registry reg = in_tree_plugins();

  Layout(const std::string& s, int r) : spec(s), group(s == "optimizer.normuon"), ranks(r) {
    BuildArgs a;
    a.config = &c;
    a.device = Device::cpu();
    const ShardUnit u = reg.create<Optimizer>(spec, a)->shard_unit();
    const ShardPlan plan = plan_shards(group.list(), u, std::max(ranks, 1));
    for (int rank = 0; rank < std::max(ranks, 1); ++rank) {
      opts.push_back(reg.create<Optimizer>(spec, a));
      views.emplace_back();
      std::vector<Parameter*> mine;
      if (ranks == 0) {
        mine = group.list();
      } else {
        for (const ShardPiece& p : plan[std::size_t(rank)]) {
          views.back().push_back(shard_parameter(group.ps[p.param], u, p.begin, p.end));
          mine.push_back(&views.back().back());
        }
      }
      opts.back()->add_parameters(mine);
    }
  }
  void step(int s) {
    group.grads(s);
    for (auto& o : opts) o->step(OptimizerStep{s, 0.01, 0.1, 0.75f});
  }
  // Every rank's state merged (what the checkpoint hands over).
  StateMap state() const {
    StateMap all;
    for (const auto& o : opts)
      for (auto& [k, t] : o->state()) EXPECT_TRUE(all.emplace(k, t.clone()).second) << k;
    return all;
  }
  std::vector<ShardView> rank_views(int rank) const {
    std::vector<ShardView> v;
    if (ranks == 0) {
      for (const Parameter& p : group.ps)
        v.push_back(ShardView{p.name, p.name, 0, shard_units(p, unit_of(spec))});
      return v;
    }
    for (const Parameter& p : views[std::size_t(rank)]) {
      auto parsed = parse_shard_name(p.name);
      EXPECT_TRUE(parsed) << p.name;
      v.push_back(*parsed);
    }
    return v;
  }
  ShardUnit unit_of(const std::string&) const { return opts.front()->shard_unit(); }
  std::map<std::string, std::int64_t> units() const {
    std::map<std::string, std::int64_t> u;
    for (const Parameter& p : group.ps) u[p.name] = shard_units(p, unit_of(spec));
    return u;
  }
  // Loads `from` (any layout's merged state) into every rank, re-sharded.
  void load(const StateMap& from) {
    const std::vector<ShardView> old = views_in_state(from, units());
    for (int r = 0; r < int(opts.size()); ++r)
      opts[std::size_t(r)]->load_state(
          reshard_state(from, old, opts[std::size_t(r)]->state(), rank_views(r)));
  }
};

void expect_same(const StateMap& got, const StateMap& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (const auto& [k, t] : want) {
    ASSERT_TRUE(got.count(k)) << what << ": " << k;
    EXPECT_EQ(got.at(k).shape(), t.shape()) << what << ": " << k;
    EXPECT_EQ(got.at(k).dtype(), t.dtype()) << what << ": " << k;
    if (t.dtype() == DType::i64)
      EXPECT_EQ(*got.at(k).to(Device::cpu()).data_as<std::int64_t>(), *t.data_as<std::int64_t>())
          << what << ": " << k;
    else
      EXPECT_EQ(got.at(k).to_floats(), t.to_floats()) << what << ": " << k;
  }
}

class Reshard : public ::testing::TestWithParam<std::string> {};

TEST_P(Reshard, ShardedStepsMatchOneOptimizerAndStateMovesBetweenLayouts) {
  const std::string spec = GetParam();
  std::map<int, std::unique_ptr<Layout>> runs;
  for (int ranks : {0, 1, 2, 3}) {
    runs[ranks] = std::make_unique<Layout>(spec, ranks);
    for (int s = 0; s < 2; ++s) runs[ranks]->step(s);
  }
  const auto plain = runs[0]->group.values();
  for (int ranks : {1, 2, 3}) EXPECT_EQ(runs[ranks]->group.values(), plain) << ranks << " ranks";

  // Every layout's state into every other equals what that layout holds itself.
  for (int from : {0, 1, 2, 3})
    for (int to : {0, 1, 2, 3}) {
      const StateMap saved = runs[from]->state();
      const std::vector<ShardView> old = views_in_state(saved, runs[from]->units());
      StateMap got;
      for (int r = 0; r < std::max(to, 1); ++r)
        for (auto& [k, t] : reshard_state(saved, old, runs[to]->opts[std::size_t(r)]->state(),
                                          runs[to]->rank_views(r)))
          got[k] = t;
      expect_same(got, runs[to]->state(),
                  spec + ": " + std::to_string(from) + " -> " + std::to_string(to) + " ranks");
    }

  // Training continues from a re-sharded state with the bits of the unsharded run.
  Layout plain3(spec, 0);
  for (int s = 0; s < 3; ++s) plain3.step(s);
  for (auto [from, to] : {std::pair{2, 1}, {1, 2}, {0, 3}, {3, 2}, {2, 0}}) {
    Layout next(spec, to);
    for (std::size_t i = 0; i < next.group.ps.size(); ++i)
      next.group.ps[i].value.copy_from(runs[from]->group.ps[i].value);
    next.load(runs[from]->state());
    next.step(2);
    EXPECT_EQ(next.group.values(), plain3.group.values()) << from << " -> " << to << " ranks";
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, Reshard,
                         ::testing::Values("optimizer.adamw", "optimizer.normuon"),
                         [](const auto& info) { return info.param.substr(10); });

TEST(OptimizerShardUnit, AdamWShardsByElementsNorMuonByMatrices) {
  const Config c = tiny_config();
  const Registry reg = in_tree_plugins();
  BuildArgs a;
  a.config = &c;
  a.device = Device::cpu();
  EXPECT_EQ(reg.create<Optimizer>("optimizer.adamw", a)->shard_unit(), ShardUnit::elements);
  EXPECT_EQ(reg.create<Optimizer>("optimizer.normuon", a)->shard_unit(), ShardUnit::matrices);
}

TEST(ReshardState, MissingPiecesAndStrangeKeysAreNamed) {
  Layout two("optimizer.adamw", 2), one("optimizer.adamw", 1);
  two.step(0);
  StateMap saved = two.state();
  // Drop rank 1's pieces: the embedding's second half is nowhere.
  for (const ShardView& v : two.rank_views(1))
    for (const char* slot : {".exp_avg", ".exp_avg_sq", ".step"}) saved.erase(v.name + slot);
  try {
    one.load(saved);
    ADD_FAILURE() << "a missing piece was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cover"), std::string::npos) << e.what();
  }
  StateMap stray = two.state();
  stray["nonsense@0:1.exp_avg"] = Tensor::zeros({1}, DType::f32);
  EXPECT_THROW(views_in_state(stray, one.units()), Error);
}

}  // namespace
}  // namespace vpmoe::testing
