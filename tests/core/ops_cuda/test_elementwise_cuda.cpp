// Elementwise, bias and cast ops on CUDA against the CPU ops.
#include <string>
#include <vector>

#include "core/ops_cuda/cuda_test_util.h"

namespace vpmoe::testing {
namespace {

const std::int64_t kSizes[] = {1, 7, 1000, 4099, 65539};
const DType kDtypes[] = {DType::f32, DType::bf16};

// A [n] view that starts one element into its buffer: exercises the unaligned (scalar) path.
Tensor unaligned(const Tensor& t) {
  std::int64_t n = t.numel();
  Tensor big = Tensor::empty({n + 1}, t.dtype(), t.device());
  Tensor v = big.slice(1, n + 1);
  v.copy_from(t.view({n}));
  return v;
}

TEST(OpsCuda, AddMulScale) {
  VPMOE_REQUIRE_CUDA();
  for (DType dt : kDtypes)
    for (std::int64_t n : kSizes)
      for (bool misalign : {false, true}) {
        Pair a = random_pair({n}, dt), b = random_pair({n}, dt);
        if (misalign) a.dev = unaligned(a.dev);
        std::string what =
            std::string(dt_str(dt)) + " n " + std::to_string(n) + (misalign ? " unaligned" : "");
        Tensor out = poisoned({n}, dt), ref = Tensor::empty({n}, DType::f32);
        ops::add(a.dev, b.dev, out);
        ops::add(a.cpu, b.cpu, ref);
        EXPECT_LT(rel_err(out, ref), tol(dt)) << "add " << what;
        out = poisoned({n}, dt);
        ops::mul(a.dev, b.dev, out);
        ops::mul(a.cpu, b.cpu, ref);
        EXPECT_LT(rel_err(out, ref), tol(dt)) << "mul " << what;
        out = poisoned({n}, dt);
        ops::scale(a.dev, -1.75f, out);
        ops::scale(a.cpu, -1.75f, ref);
        EXPECT_LT(rel_err(out, ref), tol(dt)) << "scale " << what;
        // In place: out aliases a.
        Tensor inplace = a.dev.clone();
        ops::add(inplace, b.dev, inplace);
        ops::add(a.cpu, b.cpu, ref);
        EXPECT_LT(rel_err(inplace, ref), tol(dt)) << "add in place " << what;
      }
}

TEST(OpsCuda, Axpy) {
  VPMOE_REQUIRE_CUDA();
  for (DType dx : kDtypes)
    for (DType dy : kDtypes)
      for (std::int64_t n : kSizes) {
        Pair x = random_pair({n}, dx), y = random_pair({n}, dy);
        ops::axpy(0.3f, x.dev, y.dev);
        ops::axpy(0.3f, x.cpu, y.cpu);
        EXPECT_LT(rel_err(y.dev, y.cpu),
                  dx == DType::bf16 || dy == DType::bf16 ? kTolBf16 : kTolF32)
            << "x " << dt_str(dx) << " y " << dt_str(dy) << " n " << n;
      }
}

TEST(OpsCuda, Fill) {
  VPMOE_REQUIRE_CUDA();
  for (DType dt : kDtypes)
    for (std::int64_t n : kSizes) {
      Tensor t = poisoned({n}, dt);
      Tensor ref = Tensor::empty({n}, DType::f32);
      ops::fill(t, 0.1f);
      ops::fill(ref, 0.1f);
      // Bit-exact: the value is rounded once, on the host.
      std::vector<float> got = t.to_floats(), want = ref.to_floats();
      float w = dt == DType::bf16 ? bf16_to_float(float_to_bf16(0.1f)) : 0.1f;
      for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], w) << i;
      EXPECT_EQ(want[0], 0.1f);
    }
}

TEST(OpsCuda, SquaredRelu) {
  VPMOE_REQUIRE_CUDA();
  for (DType dt : kDtypes)
    for (std::int64_t n : kSizes) {
      Pair x = random_pair({n}, dt, -2.f, 2.f), dy = random_pair({n}, dt);
      Tensor y = poisoned({n}, dt), ref = Tensor::empty({n}, DType::f32);
      ops::squared_relu(x.dev, y);
      ops::squared_relu(x.cpu, ref);
      EXPECT_LT(rel_err(y, ref), tol(dt)) << dt_str(dt) << " n " << n;
      Tensor dx = poisoned({n}, dt);
      ops::squared_relu_backward(x.dev, dy.dev, dx);
      ops::squared_relu_backward(x.cpu, dy.cpu, ref);
      EXPECT_LT(rel_err(dx, ref), tol(dt)) << "backward " << dt_str(dt) << " n " << n;
    }
}

struct RowsCols {
  std::int64_t rows, cols;
};
const RowsCols kMatrices[] = {{1, 1}, {3, 7}, {300, 64}, {517, 40}, {1000, 1029}};

TEST(OpsCuda, BiasAdd) {
  VPMOE_REQUIRE_CUDA();
  for (DType dt : kDtypes)
    for (DType bt : {DType::f32, dt})
      for (RowsCols s : kMatrices) {
        Pair x = random_pair({s.rows, s.cols}, dt), b = random_pair({s.cols}, bt);
        ops::bias_add(x.dev, b.dev);
        ops::bias_add(x.cpu, b.cpu);
        EXPECT_LT(rel_err(x.dev, x.cpu), tol(dt))
            << dt_str(dt) << " bias " << dt_str(bt) << " " << s.rows << "x" << s.cols;
      }
}

TEST(OpsCuda, BiasGrad) {
  VPMOE_REQUIRE_CUDA();
  for (DType dt : kDtypes)
    for (bool acc : {false, true})
      for (RowsCols s : kMatrices) {
        Pair dy = random_pair({s.rows, s.cols}, dt);
        Pair db = acc ? random_pair({s.cols}, DType::f32)
                      : Pair{poisoned({s.cols}, DType::f32), Tensor::zeros({s.cols}, DType::f32)};
        ops::bias_grad(dy.dev, db.dev, acc);
        ops::bias_grad(dy.cpu, db.cpu, acc);
        EXPECT_LT(rel_err(db.dev, db.cpu), kTolF32)
            << dt_str(dt) << " acc " << acc << " " << s.rows << "x" << s.cols;
      }
}

TEST(OpsCuda, Cast) {
  VPMOE_REQUIRE_CUDA();
  for (std::int64_t n : kSizes) {
    // Wide range, halfway cases included: bits must match the host's float_to_bf16.
    std::vector<float> v = random_values(n, DType::f32, -1e4f, 1e4f);
    if (n > 4) v[1] = 1.00390625f, v[2] = -1.01171875f, v[3] = 3e38f;
    Tensor src = Tensor::from_floats(v, {n}, DType::f32, gpu());
    Tensor bf = poisoned({n}, DType::bf16);
    ops::cast(src, bf);
    Tensor want = Tensor::from_floats(v, {n}, DType::bf16, cpu());  // host rounding
    EXPECT_EQ(bytes_of(bf), bytes_of(want)) << "f32 -> bf16, n " << n;
    Tensor back = poisoned({n}, DType::f32);
    ops::cast(bf, back);
    EXPECT_EQ(back.to_floats(), want.to_floats()) << "bf16 -> f32, n " << n;
    Tensor copy = poisoned({n}, DType::f32);
    ops::cast(src, copy);
    EXPECT_EQ(bytes_of(copy), bytes_of(src)) << "f32 copy, n " << n;
    Tensor cref = Tensor::empty({n}, DType::f32);
    ops::cast(Tensor::from_floats(v, {n}, DType::f32), cref);
    EXPECT_EQ(bytes_of(cref), bytes_of(src));
  }
}

}  // namespace
}  // namespace vpmoe::testing
