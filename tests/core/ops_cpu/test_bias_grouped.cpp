// bias_add_grouped / bias_grad_grouped against double loops, with an empty group, and the
// refusals (counts that do not add up, wrong bias shape).
#include "core/ops_cpu/cpu_test_util.h"

namespace vpmoe::testing {
namespace {

TEST(OpsCpu, GroupedBiasAddAndGradient) {
  std::mt19937 g(31);
  const std::vector<std::int64_t> rows{3, 0, 5, 1};
  const std::int64_t M = 9, C = 4, G = 4;
  Tensor x = rand_tensor(g, {M, C}), bias = rand_tensor(g, {G, C}), dy = rand_tensor(g, {M, C});
  const Vec x0 = to_double(x), b = to_double(bias), d = to_double(dy);
  Vec want = x0, db(std::size_t(G * C), 0.0);
  std::int64_t r0 = 0;
  for (std::int64_t e = 0; e < G; ++e) {
    for (std::int64_t r = r0; r < r0 + rows[std::size_t(e)]; ++r)
      for (std::int64_t c = 0; c < C; ++c) {
        want[std::size_t(r * C + c)] += b[std::size_t(e * C + c)];
        db[std::size_t(e * C + c)] += d[std::size_t(r * C + c)];
      }
    r0 += rows[std::size_t(e)];
  }
  ops::bias_add_grouped(x, bias, rows);
  expect_close(x, want, 1e-7, "x + bias of its group");
  Tensor grad = Tensor::empty({G, C}, DType::f32);
  ops::fill(grad, 0.5f);
  ops::bias_grad_grouped(dy, rows, grad, false);
  expect_close(grad, db, 1e-6, "dbias (overwrite)");
  ops::bias_grad_grouped(dy, rows, grad, true);
  for (double& v : db) v *= 2;
  expect_close(grad, db, 1e-6, "dbias (accumulate)");
  EXPECT_THROW(ops::bias_add_grouped(x, bias, std::vector<std::int64_t>{3, 0, 5, 2}), Error);
  EXPECT_THROW(ops::bias_add_grouped(x, Tensor::zeros({3, C}, DType::f32), rows), Error);
}

}  // namespace
}  // namespace vpmoe::testing
