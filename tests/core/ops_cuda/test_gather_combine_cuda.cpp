// gather_rows, combine_rows, combine_rows_weight_grad and the grouped bias ops on CUDA against
// the CPU ops, f32 and bf16 (and mixed), on vectorised (C % 8 == 0) and scalar row widths.
#include <string>

#include "core/ops_cuda/cuda_test_util.h"

namespace vpmoe::testing {
namespace {

Pair random_ids(const Shape& s, int V) {
  std::uniform_int_distribution<int> u(0, V - 1);
  std::vector<float> v(std::size_t(shape_numel(s)));
  for (float& x : v) x = float(u(rng()));
  return {Tensor::from_floats(v, s, DType::i32, gpu()),
          Tensor::from_floats(v, s, DType::i32, cpu())};
}

const DType kDtypes[] = {DType::f32, DType::bf16};

TEST(OpsCuda, GatherRowsMatchesCpu) {
  VPMOE_REQUIRE_CUDA();
  for (std::int64_t C : {1, 13, 1024})
    for (DType ds : kDtypes)
      for (DType dout : kDtypes) {
        const std::int64_t V = 300, M = 777;
        Pair src = random_pair({V, C}, ds), scale = random_pair({M}, DType::f32),
             idx = random_ids({M}, int(V));
        const std::string what = "C " + std::to_string(C) + " " + dt_str(ds) + "->" + dt_str(dout);
        for (bool scaled : {false, true}) {
          Tensor out = poisoned({M, C}, dout), ref = Tensor::empty({M, C}, DType::f32);
          ops::gather_rows(src.dev, idx.dev, scaled ? scale.dev : Tensor(), out);
          ops::gather_rows(src.cpu, idx.cpu, scaled ? scale.cpu : Tensor(), ref);
          EXPECT_LT(rel_err(out, ref), dout == DType::bf16 ? kTolBf16 : kTolF32) << what;
        }
      }
}

TEST(OpsCuda, CombineRowsAndWeightGradMatchCpu) {
  VPMOE_REQUIRE_CUDA();
  for (std::int64_t C : {5, 64, 1024})
    for (DType dt : kDtypes) {
      const std::int64_t V = 1000, N = 250, k = 4;
      Pair src = random_pair({V, C}, dt), w = random_pair({N, k}, DType::f32),
           g = random_pair({N, C}, dt), idx = random_ids({N, k}, int(V));
      const std::string what = "C " + std::to_string(C) + " " + dt_str(dt);
      for (bool weighted : {false, true}) {
        Tensor out = poisoned({N, C}, dt), ref = Tensor::empty({N, C}, DType::f32);
        ops::combine_rows(src.dev, idx.dev, weighted ? w.dev : Tensor(), out);
        ops::combine_rows(src.cpu, idx.cpu, weighted ? w.cpu : Tensor(), ref);
        EXPECT_LT(rel_err(out, ref), tol(dt)) << "combine " << what;
        Tensor again = poisoned({N, C}, dt);
        ops::combine_rows(src.dev, idx.dev, weighted ? w.dev : Tensor(), again);
        EXPECT_EQ(bytes_of(out), bytes_of(again)) << "repeatable " << what;
      }
      Tensor dw = poisoned({N, k}, DType::f32), ref = Tensor::empty({N, k}, DType::f32);
      ops::combine_rows_weight_grad(g.dev, src.dev, idx.dev, dw);
      ops::combine_rows_weight_grad(g.cpu, src.cpu, idx.cpu, ref);
      EXPECT_LT(rel_err(dw, ref), kTolF32 * 10) << "dw " << what;
    }
}

// Uneven groups with empty ones (the MoE expert shape), packed and scalar widths.
TEST(OpsCuda, GroupedBiasAddAndGradMatchCpu) {
  VPMOE_REQUIRE_CUDA();
  const std::vector<std::int64_t> rows{0, 70, 3, 0, 130, 1, 56, 0};
  const std::int64_t M = 260, G = 8;
  for (std::int64_t C : {6, 128, 1024})
    for (DType dt : kDtypes) {
      const std::string what = "C " + std::to_string(C) + " " + dt_str(dt);
      Pair x = random_pair({M, C}, dt), b = random_pair({G, C}, DType::f32),
           dy = random_pair({M, C}, dt);
      ops::bias_add_grouped(x.dev, b.dev, rows);
      ops::bias_add_grouped(x.cpu, b.cpu, rows);
      EXPECT_LT(rel_err(x.dev, x.cpu), tol(dt)) << "add " << what;
      Pair acc = random_pair({G, C}, DType::f32);
      ops::bias_grad_grouped(dy.dev, rows, acc.dev, true);
      ops::bias_grad_grouped(dy.cpu, rows, acc.cpu, true);
      EXPECT_LT(rel_err(acc.dev, acc.cpu), kTolF32) << "grad " << what;
      Tensor fresh = poisoned({G, C}, DType::f32), ref = Tensor::empty({G, C}, DType::f32);
      ops::bias_grad_grouped(dy.dev, rows, fresh, false);
      ops::bias_grad_grouped(dy.cpu, rows, ref, false);
      EXPECT_LT(rel_err(fresh, ref), kTolF32) << "grad (overwrite) " << what;
    }
}

// Skewed routing: groups of many rows are summed in row chunks, then the chunks in order.
TEST(OpsCuda, GroupedBiasGradSkewedGroupsMatchesCpuAndRepeats) {
  VPMOE_REQUIRE_CUDA();
  const std::vector<std::int64_t> rows{2, 1800, 0, 256, 257, 513, 9};
  const std::int64_t G = std::int64_t(rows.size()), M = 2837;
  for (std::int64_t C : {5, 1024}) {
    Pair dy = random_pair({M, C}, DType::bf16), acc = random_pair({G, C}, DType::f32);
    const Tensor acc0 = acc.dev.clone();
    ops::bias_grad_grouped(dy.dev, rows, acc.dev, true);
    ops::bias_grad_grouped(dy.cpu, rows, acc.cpu, true);
    EXPECT_LT(rel_err(acc.dev, acc.cpu), kTolF32) << "C " << C;
    Tensor again = acc0.clone();
    ops::bias_grad_grouped(dy.dev, rows, again, true);
    EXPECT_EQ(bytes_of(again), bytes_of(acc.dev)) << "repeatable, C " << C;
  }
}

}  // namespace
}  // namespace vpmoe::testing
