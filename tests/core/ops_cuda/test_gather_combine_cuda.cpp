// gather_rows, combine_rows and combine_rows_weight_grad on CUDA against the CPU ops, f32 and
// bf16 (and mixed), on vectorised (C % 8 == 0) and scalar row widths; repeat runs bit-equal.
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

}  // namespace
}  // namespace vpmoe::testing
