// Re-sharding expert stacks between ep layouts: rows gathered from the saved pieces are the
// rows of the whole tensor, whatever the saved and the new ep sizes.
#include <gtest/gtest.h>

#include <random>

#include "train/checkpoint_shards.h"
#include "train/optimizer_reshard.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

Tensor random_stack(std::int64_t E, std::int64_t m, std::int64_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(std::size_t(E * m * n));
  for (float& x : v) x = d(g);
  return Tensor::from_floats(v, {E, m, n}, DType::f32);
}

TEST(CheckpointShards, RowsOfAnyNewLayoutFromAnySavedLayout) {
  const std::int64_t E = 8;
  const Tensor whole = random_stack(E, 3, 5, 7);
  for (int saved_ep : {1, 2, 4, 8}) {
    const std::int64_t per = E / saved_ep;
    int reads = 0;
    auto piece = [&](int k) {
      ++reads;
      return whole.slice(k * per, (k + 1) * per);
    };
    for (int ep : {1, 2, 4, 8}) {
      const std::int64_t mine = E / ep;
      for (int r = 0; r < ep; ++r) {
        reads = 0;
        const Tensor got = gather_rows(r * mine, mine, saved_ep, piece, "w1");
        EXPECT_EQ(got.to_floats(), whole.slice(r * mine, (r + 1) * mine).to_floats())
            << "saved ep " << saved_ep << " into ep " << ep << " rank " << r;
        // Only the overlapping pieces are read (the first is read to learn the piece size).
        const std::int64_t overlapping = std::max<std::int64_t>(1, mine / per);
        EXPECT_LE(reads, overlapping + 1);
      }
    }
  }
}

TEST(CheckpointShards, RefusesPiecesOfTheWrongShape) {
  const Tensor whole = random_stack(4, 2, 2, 1);
  auto uneven = [&](int k) { return k == 0 ? whole.slice(0, 2) : whole.slice(2, 3); };
  EXPECT_THROW(gather_rows(0, 4, 2, uneven, "w"), Error);
  EXPECT_THROW(gather_rows(
                   0, 6, 2, [&](int k) { return whole.slice(2 * k, 2 * k + 2); }, "w"),
               Error);
}

TEST(CheckpointShards, StateKeysBelongToTheLongestParameterName) {
  const std::map<std::string, int> names{{"matrix/layers.1.moe.experts.w1", 0},
                                         {"matrix/layers.1.moe.experts.w10", 0},
                                         {"aux/layers.1.moe.experts.b1", 0}};
  EXPECT_EQ(state_key_param("matrix/layers.1.moe.experts.w1.momentum", names),
            "matrix/layers.1.moe.experts.w1");
  EXPECT_EQ(state_key_param("matrix/layers.1.moe.experts.w10.momentum", names),
            "matrix/layers.1.moe.experts.w10");
  EXPECT_EQ(state_key_param("matrix/layers.1.moe.experts.w10@2:4.momentum", names),
            "matrix/layers.1.moe.experts.w10");
  EXPECT_EQ(state_key_param("aux/layers.1.moe.experts.b1.step", names),
            "aux/layers.1.moe.experts.b1");
  EXPECT_EQ(state_key_param("matrix/layers.1.attention.w_o.momentum", names), "");
  EXPECT_EQ(experts_file("model", 3), "model_ep003.safetensors");
}

// An ep rank's stack starts at its place among all experts; the rest is left as it is.
TEST(CheckpointShards, ExpertStateKeysMoveToTheWholeModelsCoordinates) {
  const std::map<std::string, std::int64_t> units{{"matrix/e.w1", 4}, {"aux/e.b1", 32}};
  EXPECT_EQ(state_key_to_global("matrix/e.w1.momentum", units, 1, 2), "matrix/e.w1@4:8.momentum");
  EXPECT_EQ(state_key_to_global("matrix/e.w1@1:3.momentum", units, 2, 4),
            "matrix/e.w1@9:11.momentum");
  EXPECT_EQ(state_key_to_global("aux/e.b1@0:16.exp_avg", units, 1, 2), "aux/e.b1@32:48.exp_avg");
  EXPECT_EQ(state_key_to_global("matrix/dense.w.momentum", units, 1, 2), "matrix/dense.w.momentum");
  EXPECT_EQ(state_key_to_global("matrix/e.w1.momentum", units, 0, 1), "matrix/e.w1.momentum");
  EXPECT_THROW(state_key_to_global("matrix/e.w1@x:3.momentum", units, 1, 2), Error);
}

TEST(CheckpointShards, GlobalShapeScalesOnlyExpertStacks) {
  Parameter stack = Parameter::make("e", {2, 3, 4}, ParamRole::expert_matrix, Device::cpu());
  stack.sharding = Sharding::expert;
  const Parameter dense = Parameter::make("d", {3, 4}, ParamRole::matrix, Device::cpu());
  EXPECT_EQ(global_shape(stack, 4), (Shape{8, 3, 4}));
  EXPECT_EQ(global_shape(dense, 4), (Shape{3, 4}));
}

}  // namespace
}  // namespace vpmoe::testing
