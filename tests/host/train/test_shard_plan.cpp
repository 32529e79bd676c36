// The distributed optimizer's plans (shard_plan.h) as pure functions: by elements and by whole
// matrices, every element / matrix of every parameter goes to exactly one rank, each rank's
// share is one contiguous run of the concatenation, element shares are even, matrix shares
// balanced by work; piece names round-trip, and piece views share the parameter's storage.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "train/shard_plan.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

// Checks the plan covers units[i] of every parameter i exactly once, and that each rank's
// pieces, in order, form one contiguous run of the concatenated units. Returns each rank's
// units.
std::vector<std::int64_t> check_cover(const ShardPlan& plan, const std::vector<std::int64_t>& units,
                                      int ranks) {
  EXPECT_EQ(plan.size(), std::size_t(ranks));
  std::vector<std::int64_t> start(units.size() + 1, 0);
  std::partial_sum(units.begin(), units.end(), start.begin() + 1);
  std::vector<int> owner(std::size_t(start.back()), -1);
  std::vector<std::int64_t> load(std::size_t(ranks), 0);
  std::int64_t next = 0;  // ranks in order take consecutive runs
  for (int r = 0; r < ranks; ++r) {
    for (const ShardPiece& p : plan[std::size_t(r)]) {
      EXPECT_LT(p.param, units.size());
      EXPECT_LT(p.begin, p.end) << "empty piece on rank " << r;
      EXPECT_LE(p.end, units[p.param]);
      EXPECT_EQ(start[p.param] + p.begin, next) << "rank " << r << " is not contiguous";
      for (std::int64_t u = p.begin; u < p.end; ++u) {
        int& o = owner[std::size_t(start[p.param] + u)];
        EXPECT_EQ(o, -1) << "unit " << u << " of parameter " << p.param << " owned twice";
        o = r;
      }
      next = start[p.param] + p.end;
      load[std::size_t(r)] += p.end - p.begin;
    }
  }
  for (std::size_t u = 0; u < owner.size(); ++u) EXPECT_NE(owner[u], -1) << "unit " << u;
  return load;
}

std::vector<std::int64_t> random_sizes(std::mt19937& g, int n, int max) {
  std::uniform_int_distribution<int> d(0, max);
  std::vector<std::int64_t> v;
  for (int i = 0; i < n; ++i) v.push_back(d(g));
  return v;
}

TEST(ShardPlan, ElementsCoverEveryElementOnceInEvenContiguousRanges) {
  std::mt19937 g(7);
  for (int trial = 0; trial < 50; ++trial) {
    const std::vector<std::int64_t> numels = random_sizes(g, 1 + trial % 9, 40);
    const std::int64_t total = std::accumulate(numels.begin(), numels.end(), std::int64_t(0));
    for (int ranks : {1, 2, 3, 4, 7, 64}) {
      const std::vector<std::int64_t> load =
          check_cover(plan_elements(numels, ranks), numels, ranks);
      const std::int64_t per = (total + ranks - 1) / ranks;
      for (int r = 0; r < ranks; ++r)
        EXPECT_EQ(load[std::size_t(r)], std::clamp<std::int64_t>(total - r * per, 0, per))
            << "rank " << r << " of " << ranks;
    }
  }
}

TEST(ShardPlan, MatricesCoverEveryMatrixOnceBalancedByWork) {
  std::mt19937 g(11);
  for (int trial = 0; trial < 50; ++trial) {
    const int n = 1 + trial % 12;
    std::vector<std::int64_t> units = random_sizes(g, n, 9), work = random_sizes(g, n, 1000);
    for (std::int64_t& w : work) w += 1;
    double total = 0, biggest = 0;
    for (int i = 0; i < n; ++i)
      total += double(units[std::size_t(i)] * work[std::size_t(i)]),
          biggest = std::max(biggest, units[std::size_t(i)] ? double(work[std::size_t(i)]) : 0.0);
    for (int ranks : {1, 2, 3, 4, 8}) {
      const ShardPlan plan = plan_matrices(units, work, ranks);
      check_cover(plan, units, ranks);
      for (int r = 0; r < ranks; ++r) {
        double w = 0;
        for (const ShardPiece& p : plan[std::size_t(r)])
          w += double((p.end - p.begin) * work[p.param]);
        // A matrix goes where the middle of its work falls: no rank is over its even share by
        // more than one matrix.
        EXPECT_LE(w, total / ranks + biggest) << "rank " << r << " of " << ranks;
      }
      EXPECT_EQ(plan, plan_matrices(units, work, ranks)) << "deterministic";
    }
  }
}

TEST(ShardPlan, ModelShapedGroupsSplitByUnit) {
  std::vector<Parameter> ps;
  ps.push_back(Parameter::make("w", {8, 16}, ParamRole::matrix, Device::cpu()));
  ps.push_back(Parameter::make("experts.w1", {6, 16, 4}, ParamRole::expert_matrix, Device::cpu()));
  ps.push_back(Parameter::make("router", {6, 16}, ParamRole::router, Device::cpu()));
  std::vector<Parameter*> list;
  for (Parameter& p : ps) list.push_back(&p);
  for (int ranks : {1, 2, 3, 5}) {
    check_cover(plan_shards(list, ShardUnit::matrices, ranks), {1, 6, 1}, ranks);
    check_cover(plan_shards(list, ShardUnit::elements, ranks), {128, 384, 96}, ranks);
  }
  // The 8 x 16 matrix (work 8 * 16 * 8 = 1024) and the six 16 x 4 experts (256 each) and the
  // 6 x 16 router (576) over two ranks: 1024 + 2 * 256 | 4 * 256 + 576.
  const ShardPlan two = plan_shards(list, ShardUnit::matrices, 2);
  ASSERT_EQ(two[0].size(), 2u);
  EXPECT_EQ(two[0][1].param, 1u);
  EXPECT_EQ(two[0][1].end, 2);
}

// An optimizer that takes whole matrices also gets vectors (an aux optimizer plugin by default):
// each stays whole, its work its length.
TEST(ShardPlan, VectorsStayWholeUnderMatrices) {
  std::vector<Parameter> ps;
  ps.push_back(Parameter::make("norm", {24}, ParamRole::norm, Device::cpu()));
  ps.push_back(Parameter::make("w", {4, 6}, ParamRole::matrix, Device::cpu()));
  ps.push_back(Parameter::make("bias", {10}, ParamRole::bias, Device::cpu()));
  std::vector<Parameter*> list;
  for (Parameter& p : ps) list.push_back(&p);
  EXPECT_EQ(shard_units(ps[0], ShardUnit::matrices), 1);
  EXPECT_EQ(unit_elements(ps[0], ShardUnit::matrices), 24);
  EXPECT_EQ(unit_elements(ps[1], ShardUnit::matrices), 24);
  for (int ranks : {1, 2, 3, 4})
    check_cover(plan_shards(list, ShardUnit::matrices, ranks), {1, 1, 1}, ranks);
}

TEST(ShardPlan, NamesRoundTripAndViewsShareStorage) {
  EXPECT_EQ(shard_name("layers.1.attention.w_o", 3, 17), "layers.1.attention.w_o@3:17");
  const auto v = parse_shard_name("layers.1.attention.w_o@3:17");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->param, "layers.1.attention.w_o");
  EXPECT_EQ(v->begin, 3);
  EXPECT_EQ(v->end, 17);
  for (const char* bad : {"w", "w@", "w@3", "w@3:", "w@:4", "w@4:3", "w@-1:2", "w@1:2x", "@1:2"})
    EXPECT_FALSE(parse_shard_name(bad)) << bad;

  Parameter stack = Parameter::make("e", {4, 3, 2}, ParamRole::expert_matrix, Device::cpu());
  stack.sharding = Sharding::expert;
  const Parameter m = shard_parameter(stack, ShardUnit::matrices, 1, 3);
  EXPECT_EQ(m.name, "e@1:3");
  EXPECT_EQ(m.value.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(m.value.data(), stack.value.data_as<float>() + 6);
  EXPECT_EQ(m.grad.data(), stack.grad.data_as<float>() + 6);
  EXPECT_EQ(m.compute.data(), m.value.data());
  EXPECT_EQ(m.sharding, Sharding::expert);
  EXPECT_EQ(m.role, ParamRole::expert_matrix);
  const Parameter e = shard_parameter(stack, ShardUnit::elements, 5, 11);
  EXPECT_EQ(e.value.shape(), (Shape{6}));
  EXPECT_EQ(e.value.data(), stack.value.data_as<float>() + 5);
  Parameter flat = Parameter::make("w", {3, 2}, ParamRole::matrix, Device::cpu());
  EXPECT_EQ(shard_parameter(flat, ShardUnit::matrices, 0, 1).value.shape(), (Shape{3, 2}));
  EXPECT_THROW(shard_parameter(flat, ShardUnit::matrices, 0, 2), Error);
  EXPECT_THROW(shard_parameter(stack, ShardUnit::elements, 5, 25), Error);
}

}  // namespace
}  // namespace vpmoe::testing
