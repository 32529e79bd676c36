// Under mpirun -np 2: each rank routes its own tokens; finish_step(world) sums the step's
// counts over the ranks, so every rank applies the bias update of the summed counts (which
// differs from what its own counts alone would give).
#include <gtest/gtest.h>

#include <random>

#include "core/moe/moe_layer_test_util.h"
#include "core/ops_cpu/cpu_test_util.h"

namespace vpmoe::testing {
namespace {

// Rank r's micro-batch: 3 sequences of 4 tokens from its own seed.
std::vector<std::int64_t> counts_of_rank(const Config& c, int r) {
  auto m = make_layer(c);
  std::mt19937 g(100 + std::uint32_t(r));
  m->forward(Context{Device::cpu(), 3, 4, true}, rand_tensor(g, {12, 8}, -2.f, 2.f));
  return m->step_counts();
}

TEST(MoeLayerMpi, ExpertBiasFollowsTheCountsSummedOverRanks) {
  auto world = mpi_world_comm();
  const int R = world->size(), me = world->rank();
  if (R < 2) GTEST_SKIP() << "run under mpirun -np 2 (ctest does)";
  const Config c = small_config();
  auto mine = make_layer(c);
  std::mt19937 g(100 + std::uint32_t(me));
  mine->forward(Context{Device::cpu(), 3, 4, true}, rand_tensor(g, {12, 8}, -2.f, 2.f));
  mine->finish_step(*world);

  // What every rank should have: the update from all ranks' counts, recomputed locally.
  std::vector<std::int64_t> sum(std::size_t(c.moe.num_experts), 0);
  for (int r = 0; r < R; ++r) {
    const std::vector<std::int64_t> n = counts_of_rank(c, r);
    for (std::size_t e = 0; e < sum.size(); ++e) sum[e] += n[e];
  }
  auto want = make_layer(c), alone = make_layer(c);
  want->finish_step(sum);
  alone->finish_step(counts_of_rank(c, me));
  const auto& got_beta = static_cast<router::DeepSeekRouter&>(mine->router()).expert_bias();
  const auto& want_beta = static_cast<router::DeepSeekRouter&>(want->router()).expert_bias();
  const auto& alone_beta = static_cast<router::DeepSeekRouter&>(alone->router()).expert_bias();
  EXPECT_EQ(got_beta, want_beta);
  EXPECT_NE(want_beta, alone_beta) << "the ranks' batches should route differently";
  EXPECT_EQ(mine->last_step_stats().max, *std::max_element(sum.begin(), sum.end()));
  // And every rank holds the same bias: the sum over ranks is R times this rank's.
  std::vector<double> b(got_beta.begin(), got_beta.end());
  world->all_reduce_sum(b);
  for (std::size_t e = 0; e < b.size(); ++e) EXPECT_DOUBLE_EQ(b[e], R * double(got_beta[e]));
}

}  // namespace
}  // namespace vpmoe::testing
