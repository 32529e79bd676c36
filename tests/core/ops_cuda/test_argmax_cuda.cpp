// argmax_rows on CUDA against the CPU op on fresh random inputs (the same values on both
// devices: bf16 inputs are rounded before the CPU sees them), ties included.
#include <string>
#include <vector>

#include "core/ops_cuda/cuda_test_util.h"

namespace vpmoe::testing {
namespace {

TEST(OpsCuda, ArgmaxRows) {
  VPMOE_REQUIRE_CUDA();
  const std::pair<std::int64_t, std::int64_t> sizes[] = {
      {1, 1}, {3, 17}, {64, 1000}, {7, 201088}, {300, 4099}};
  for (DType dt : {DType::f32, DType::bf16})
    for (auto [N, V] : sizes) {
      std::vector<float> v = random_values(N * V, dt, -4.f, 4.f);
      // A few coarse rows: many ties, so the first-index rule is exercised.
      for (std::int64_t i = 0; i < std::min<std::int64_t>(N, 3) * V; ++i)
        v[std::size_t(i)] = std::round(v[std::size_t(i)]);
      const Pair x = pair_from(v, {N, V}, dt);
      for (std::int64_t cols : {std::int64_t(1), (V + 1) / 2, V}) {
        Tensor got = Tensor::empty({N}, DType::i32, gpu()), want = Tensor::empty({N}, DType::i32);
        ops::argmax_rows(x.dev, cols, got);
        ops::argmax_rows(x.cpu, cols, want);
        EXPECT_EQ(got.to(cpu()).to_floats(), want.to_floats())
            << dt_str(dt) << " " << N << "x" << V << " cols " << cols;
      }
    }
}

}  // namespace
}  // namespace vpmoe::testing
