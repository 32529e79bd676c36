// build_model with ep 2 (mpirun -np 2): the MoE layers get the all-to-all dispatcher and the
// experts' shard (E/2 experts, the rows of the single-process init), everything else is the
// single-process model's, and each rank's loss on its own batch is the single-process loss.
#include <gtest/gtest.h>

#include <cmath>

#include "host/train/tiny_model.h"
#include "moe/moe_layer.h"
#include "train/model_builder.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

double loss_of(model::GptModel& m, int rank) {
  const std::int64_t B = 2, T = 8, N = B * T;
  std::vector<float> ids(N), targets(N);
  for (std::int64_t i = 0; i < N; ++i)
    ids[i] = float((i * 7 + 11 * rank) % 64), targets[i] = float((i * 5 + 3 + rank) % 64);
  Context ctx{Device::cpu(), B, T, true};
  return m
      .run(ctx, Tensor::from_floats(ids, {N}, DType::i32),
           Tensor::from_floats(targets, {N}, DType::i32), Tensor(), 1.f, true)
      .mean();
}

TEST(ModelBuilderExpertParallel, ShardsTheExpertsAndMatchesOneProcess) {
  std::shared_ptr<Comm> world = mpi_world_comm();
  ASSERT_EQ(world->size() % 2, 0) << "run under mpirun -np 2 (ctest does)";
  const auto ps = make_parallel_state(world, 1, 2);
  const Config c = tiny_config("", "[parallel]\nexpert_model_parallel_size = 2\n");
  const Registry reg = in_tree_plugins();
  auto ep = host::train::build_model(c, reg, {Device::cpu(), false, 7, ps});
  auto one = host::train::build_model(c, reg, {Device::cpu(), false, 7});
  const int first = ps->layout.first_expert(4);
  for (std::size_t l = 1; l < ep->layers().size(); ++l) {
    auto& layer = dynamic_cast<moe::MoeLayer&>(ep->layers()[l]->ffn());
    auto& alone = dynamic_cast<moe::MoeLayer&>(one->layers()[l]->ffn());
    EXPECT_EQ(layer.dispatcher().experts(), 4);
    EXPECT_EQ(layer.dispatcher().local_experts(), 2) << "all-to-all over ep 2";
    EXPECT_EQ(alone.dispatcher().local_experts(), 4) << "local";
    EXPECT_EQ(layer.experts().num_experts(), 2);
    EXPECT_EQ(layer.active_parameter_count(), alone.active_parameter_count());
  }
  const auto mine = ep->parameters(), all = one->parameters();
  ASSERT_EQ(mine.size(), all.size());
  int sharded = 0;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    ASSERT_EQ(mine[i]->name, all[i]->name);
    const bool expert = mine[i]->sharding == Sharding::expert;
    sharded += expert;
    const Tensor want = expert ? all[i]->value.slice(first, first + 2) : all[i]->value;
    EXPECT_EQ(mine[i]->value.to_floats(), want.to_floats()) << mine[i]->name;
  }
  EXPECT_EQ(sharded, 3 * 4) << "w1, b1, w2, b2 of 3 MoE layers";
  const int rank = world->rank();
  const double got = loss_of(*ep, rank), want = loss_of(*one, rank);
  EXPECT_NEAR(got, want, 1e-5 * std::abs(want));
  std::int64_t sent = 0;
  for (std::size_t l = 1; l < ep->layers().size(); ++l)
    sent += dynamic_cast<moe::MoeLayer&>(ep->layers()[l]->ffn()).dispatcher().bytes_sent();
  EXPECT_GT(sent, 0);
}

}  // namespace
}  // namespace vpmoe::testing
