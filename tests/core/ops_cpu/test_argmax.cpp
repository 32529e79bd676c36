// argmax_rows against a plain scan: the first index of the maximum of a column prefix, ties
// broken by the smaller index, NaN never winning.
#include <limits>

#include "core/ops_cpu/cpu_test_util.h"

namespace vpmoe::testing {
namespace {

std::int32_t reference(const std::vector<float>& v, std::int64_t r, std::int64_t V,
                       std::int64_t cols) {
  std::int64_t at = -1;
  for (std::int64_t c = 0; c < cols; ++c) {
    const float x = v[std::size_t(r * V + c)];
    if (x != x) continue;
    if (at < 0 || x > v[std::size_t(r * V + at)]) at = c;
  }
  return std::int32_t(at < 0 ? 0 : at);
}

TEST(Argmax, RandomRowsAndPrefixes) {
  std::mt19937 g(7);
  for (auto [N, V] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 17}, {40, 1000}}) {
    std::vector<float> v = randn(g, N * V);
    // Rounded to a few levels so that ties are common.
    for (float& x : v) x = std::round(x * 4.f) / 4.f;
    const Tensor x = Tensor::from_floats(v, {N, V}, DType::f32);
    for (std::int64_t cols : {std::int64_t(1), (V + 1) / 2, V}) {
      Tensor out = Tensor::empty({N}, DType::i32);
      ops::argmax_rows(x, cols, out);
      const std::vector<float> got = out.to_floats();
      for (std::int64_t r = 0; r < N; ++r)
        EXPECT_EQ(std::int32_t(got[std::size_t(r)]), reference(v, r, V, cols))
            << "row " << r << " of " << N << "x" << V << ", cols " << cols;
    }
  }
}

TEST(Argmax, TiesInfinityAndNan) {
  const float inf = std::numeric_limits<float>::infinity(),
              nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> v = {1,    3,    3,    2,     // tie: the first 3
                                -inf, -inf, -inf, -inf,  // all -inf: index 0
                                nan,  0,    nan,  5,     // NaN skipped: 5 at 3
                                nan,  nan,  nan,  nan,   // all NaN: 0
                                0,    1,    9,    9};    // 9 is past cols = 2: 1
  const Tensor x = Tensor::from_floats(v, {5, 4}, DType::f32);
  Tensor out = Tensor::empty({5}, DType::i32);
  ops::argmax_rows(x, 4, out);
  EXPECT_EQ(out.to_floats(), (std::vector<float>{1, 0, 3, 0, 2}));
  ops::argmax_rows(x, 2, out);
  EXPECT_EQ(out.to_floats(), (std::vector<float>{1, 0, 1, 0, 1}));
}

TEST(Argmax, BadArguments) {
  const Tensor x = Tensor::empty({2, 4}, DType::f32);
  Tensor out = Tensor::empty({2}, DType::i32), wrong = Tensor::empty({3}, DType::i32);
  EXPECT_THROW(ops::argmax_rows(x, 0, out), Error);
  EXPECT_THROW(ops::argmax_rows(x, 5, out), Error);
  EXPECT_THROW(ops::argmax_rows(x, 4, wrong), Error);
  Tensor f = Tensor::empty({2}, DType::f32);
  EXPECT_THROW(ops::argmax_rows(x, 4, f), Error);
}

}  // namespace
}  // namespace vpmoe::testing
