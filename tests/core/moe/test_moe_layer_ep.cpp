// The MoE layer with ep 2 (router.deepseek_v3, sharded grouped experts, the shared expert, the
// all-to-all dispatcher) against the single-process layer run on each rank's batch in turn:
// output and dx per rank, each rank's expert grads as its rows of the single-process expert
// grads (which saw every rank's tokens), the replicated grads summed over the ep group, and
// the counts, aux loss and global figures. Under mpirun -np 2 or 4; alone it skips.
#include <gtest/gtest.h>

#include <random>

#include "core/moe/moe_layer_test_util.h"
#include "core/ops_cpu/cpu_test_util.h"
#include "moe/all_to_all_dispatcher.h"
#include "plugins/moe/moe_test_util.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

std::unique_ptr<moe::MoeLayer> make_ep_layer(const Config& c,
                                             std::shared_ptr<const ParallelState> ps) {
  BuildArgs a;
  a.config = &c;
  a.layer = LayerInfo{2, c.model.num_layers, false, 0};
  a.device = Device::cpu();
  a.parallel = ps;
  return std::make_unique<moe::MoeLayer>(
      router::build(a), experts::build(a), ffn::build(a),
      std::make_unique<moe::AllToAllDispatcher>(c.moe.num_experts, ps->ep, Device::cpu()),
      c.moe.topk);
}

struct Batch {
  Tensor x, dy;
};

// Rank s of ep group g: 2 sequences of 4 tokens.
Batch batch_of(int g, int s) {
  std::mt19937 gen(std::uint32_t(300 + 31 * g + s));
  Batch b;
  b.x = rand_tensor(gen, {8, 8}, -2.f, 2.f);
  b.dy = rand_tensor(gen, {8, 8});
  return b;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_floats()) m = std::max(m, double(std::abs(v)));
  return m;
}

TEST(MoeLayerExpertParallel, TwoRanksEqualOneProcess) {
  if (!mpi_available() || mpi_world_comm()->size() % 2 != 0)
    GTEST_SKIP() << "run under mpirun -np 2 or 4 (ctest does)";
  const int P = 2;
  const auto ps = make_parallel_state(mpi_world_comm(), 1, P);
  const int me = ps->ep->rank(), g = ps->layout.expert_dp_rank();
  const Config c = small_config();  // 8 experts, top-2, 2 groups
  const int E = c.moe.num_experts, L = E / P, first = ps->layout.first_expert(E);

  auto ref = make_layer(c);
  auto mine = make_ep_layer(c, ps);
  EXPECT_EQ(mine->experts().num_experts(), L);
  ASSERT_EQ(mine->parameters().size(), ref->parameters().size());
  // The built shard is the single-process init's rows; then both get the same random values.
  for (std::size_t i = 0; i < ref->parameters().size(); ++i) {
    const Parameter &p = *mine->parameters()[i], &r = *ref->parameters()[i];
    ASSERT_EQ(p.name, r.name);
    const Tensor want = p.sharding == Sharding::expert ? r.value.slice(first, first + L) : r.value;
    EXPECT_EQ(p.value.to_floats(), want.to_floats()) << "initial " << p.name;
  }
  std::mt19937 gen(7);
  randomise(*ref, gen);
  for (std::size_t i = 0; i < ref->parameters().size(); ++i) {
    Parameter &p = *mine->parameters()[i], &r = *ref->parameters()[i];
    p.value.copy_from(p.sharding == Sharding::expert ? r.value.slice(first, first + L) : r.value);
    p.sync_compute();
  }
  EXPECT_EQ(mine->active_parameter_count(), ref->active_parameter_count());
  EXPECT_EQ(mine->flops_per_token(4), ref->flops_per_token(4));

  const Context ctx{Device::cpu(), 2, 4, true};
  const Batch b = batch_of(g, me);
  mine->zero_grad();
  const Tensor out = mine->forward(ctx, b.x);
  const double aux = mine->aux_loss();
  const Tensor dx = mine->backward(ctx, b.dy);

  // One process, each rank's batch in turn: grads accumulate over the whole ep group's tokens.
  ref->zero_grad();
  Tensor want_out, want_dx;
  double want_aux = 0;
  for (int s = 0; s < P; ++s) {
    const Batch bs = batch_of(g, s);
    const Tensor o = ref->forward(ctx, bs.x);
    const double a = ref->aux_loss();
    const Tensor d = ref->backward(ctx, bs.dy);
    if (s == me) want_out = o, want_dx = d, want_aux = a;
  }
  expect_close(out, to_double(want_out), 1e-5, "output");
  expect_close(dx, to_double(want_dx), 1e-5, "dx");
  EXPECT_NEAR(aux, want_aux, 1e-7 * std::max(1.0, std::abs(want_aux)));
  for (std::size_t i = 0; i < ref->parameters().size(); ++i) {
    const Parameter &p = *mine->parameters()[i], &r = *ref->parameters()[i];
    if (p.sharding == Sharding::expert) {
      const Tensor want = r.grad.slice(first, first + L);
      EXPECT_GT(max_abs(want), 0) << p.name << ": this rank's experts saw no rows";
      expect_close(p.grad, to_double(want), 1e-5, "grad of " + p.name);
    } else {
      Tensor sum = p.grad.clone();
      ps->ep->all_reduce_sum(sum);
      expect_close(sum, to_double(r.grad), 1e-5, "grad of " + p.name + " summed over ep");
    }
  }
  // Counts are over all the layer's experts; over the group they are one process's.
  std::vector<std::int64_t> counts = mine->step_counts();
  ASSERT_EQ(counts.size(), std::size_t(E));
  ps->ep->all_reduce_sum(counts);
  EXPECT_EQ(counts, ref->step_counts());
  EXPECT_GT(mine->dispatcher().bytes_sent(), 0) << "rows should cross ranks";
}

TEST(MoeLayerExpertParallel, RefusesExpertsThatAreNotTheDispatchersShard) {
  if (!mpi_available() || mpi_world_comm()->size() % 2 != 0)
    GTEST_SKIP() << "run under mpirun -np 2 or 4 (ctest does)";
  const auto ps = make_parallel_state(mpi_world_comm(), 1, 2);
  const Config c = small_config();
  BuildArgs a;
  a.config = &c;
  a.layer = LayerInfo{2, c.model.num_layers, false, 0};
  // All 8 experts (no shard) behind a dispatcher that runs 4 here.
  EXPECT_THROW(
      moe::MoeLayer(router::build(a), experts::build(a), ffn::build(a),
                    std::make_unique<moe::AllToAllDispatcher>(8, ps->ep, Device::cpu()), 2),
      Error);
}

}  // namespace
}  // namespace vpmoe::testing
