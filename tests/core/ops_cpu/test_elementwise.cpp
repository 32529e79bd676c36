// Elementwise ops and bias against double references; backward ops against finite
// differences of the double forward of L = sum(r * y).
#include "cpu_test_util.h"

namespace vpmoe::testing {
namespace {

const Shape kShape = {3, 5, 7};

TEST(Elementwise, AddMulScaleAxpyFill) {
  std::mt19937 g(201);
  Tensor a = rand_tensor(g, kShape), b = rand_tensor(g, kShape);
  Vec av = to_double(a), bv = to_double(b), want(av.size());
  Tensor out = nan_tensor(kShape);

  ops::add(a, b, out);
  for (std::size_t i = 0; i < av.size(); ++i) want[i] = av[i] + bv[i];
  expect_close(out, want, 1e-6, "add");
  ops::mul(a, b, out);
  for (std::size_t i = 0; i < av.size(); ++i) want[i] = av[i] * bv[i];
  expect_close(out, want, 1e-6, "mul");
  ops::scale(a, -2.5f, out);
  for (std::size_t i = 0; i < av.size(); ++i) want[i] = -2.5 * av[i];
  expect_close(out, want, 1e-6, "scale");
  Tensor y = b.clone();
  ops::axpy(0.3f, a, y);
  for (std::size_t i = 0; i < av.size(); ++i) want[i] = bv[i] + 0.3 * av[i];
  expect_close(y, want, 1e-6, "axpy");
  ops::fill(out, 4.25f);
  expect_close(out, Vec(av.size(), 4.25), 0, "fill");

  // out aliasing an input
  Tensor c = a.clone();
  ops::add(c, b, c);
  for (std::size_t i = 0; i < av.size(); ++i) want[i] = av[i] + bv[i];
  expect_close(c, want, 1e-6, "add in place");
  ops::mul(c, c, c);
  for (double& x : want) x = x * x;
  expect_close(c, want, 1e-6, "mul in place");
}

TEST(Elementwise, RejectsMismatches) {
  Tensor a = Tensor::zeros({2, 3}, DType::f32), b = Tensor::zeros({3, 2}, DType::f32);
  Tensor out = Tensor::zeros({2, 3}, DType::f32), i = Tensor::zeros({2, 3}, DType::i32);
  EXPECT_THROW(ops::add(a, b, out), Error);
  EXPECT_THROW(ops::mul(a, i, out), Error);
  EXPECT_THROW(ops::scale(a, 1.f, b), Error);
  EXPECT_THROW(ops::axpy(1.f, a, b), Error);
  EXPECT_THROW(ops::fill(i, 1.f), Error);
  EXPECT_THROW(ops::squared_relu(a, b), Error);
}

// Random values kept away from the kink at 0 so finite differences are smooth.
Tensor away_from_zero(std::mt19937& g, const Shape& s) {
  std::vector<float> v = randn(g, shape_numel(s));
  for (float& x : v)
    if (std::abs(x) < 0.05f) x += x < 0 ? -0.1f : 0.1f;
  return Tensor::from_floats(v, s, DType::f32);
}

TEST(Elementwise, SquaredReluForwardAndBackward) {
  std::mt19937 g(202);
  Tensor x = away_from_zero(g, kShape), r = rand_tensor(g, kShape);
  Vec xv = to_double(x), rv = to_double(r);
  auto f = [](const Vec& X) {
    Vec y(X.size());
    for (std::size_t i = 0; i < X.size(); ++i) y[i] = X[i] > 0 ? X[i] * X[i] : 0.0;
    return y;
  };
  Tensor y = nan_tensor(kShape);
  ops::squared_relu(x, y);
  expect_close(y, f(xv), 1e-6, "squared_relu");
  Vec gx = fd_grad([&](const Vec& X) { return dot(rv, f(X)); }, xv);
  Tensor dx = nan_tensor(kShape);
  ops::squared_relu_backward(x, r, dx);
  expect_close(dx, gx, 1e-6, "squared_relu_backward");
  Tensor dy = r.clone();  // dx aliasing dy
  ops::squared_relu_backward(x, dy, dy);
  expect_close(dy, gx, 1e-6, "squared_relu_backward in place");
}

// y = x + bias (broadcast over rows), L = sum(r * y): dbias = bias_grad(r).
TEST(Bias, AddAndGradMatchFiniteDifferences) {
  std::mt19937 g(203);
  const Shape xs = {4, 3, 6};
  const std::int64_t C = 6;
  Tensor x = rand_tensor(g, xs), bias = rand_tensor(g, {C}), r = rand_tensor(g, xs);
  Vec xv = to_double(x), bv = to_double(bias), rv = to_double(r);
  auto f = [&](const Vec& B) {
    Vec y = xv;
    for (std::size_t i = 0; i < y.size(); ++i) y[i] += B[i % C];
    return y;
  };
  Tensor y = x.clone();
  ops::bias_add(y, bias);
  expect_close(y, f(bv), 1e-6, "bias_add");

  Vec gb = fd_grad([&](const Vec& B) { return dot(rv, f(B)); }, bv);
  Tensor db = nan_tensor({C});
  ops::bias_grad(r, db, false);
  expect_close(db, gb, 1e-5, "bias_grad");
  Tensor acc = rand_tensor(g, {C});
  Vec want = to_double(acc);
  for (std::int64_t c = 0; c < C; ++c) want[c] += gb[c];
  ops::bias_grad(r, acc, true);
  expect_close(acc, want, 1e-5, "bias_grad accumulate");

  Tensor wrong = Tensor::zeros({C + 1}, DType::f32);
  EXPECT_THROW(ops::bias_add(y, wrong), Error);
  EXPECT_THROW(ops::bias_grad(r, wrong, false), Error);
}

}  // namespace
}  // namespace vpmoe::testing
