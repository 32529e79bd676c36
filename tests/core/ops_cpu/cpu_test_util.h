#pragma once
// Helpers for the CPU op tests: seeded random inputs, double-precision views of tensors,
// central finite differences and a scaled max-error comparison.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "vpmoe/error.h"
#include "vpmoe/ops.h"
#include "vpmoe/tensor.h"

namespace vpmoe::testing {

using Vec = std::vector<double>;

inline std::vector<float> randn(std::mt19937& g, std::int64_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = u(g);
  return v;
}

inline Tensor rand_tensor(std::mt19937& g, const Shape& s, float lo = -1.f, float hi = 1.f) {
  return Tensor::from_floats(randn(g, shape_numel(s), lo, hi), s, DType::f32);
}

inline Tensor rand_ids(std::mt19937& g, std::int64_t n, std::int64_t V) {
  std::uniform_int_distribution<int> u(0, int(V - 1));
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = float(u(g));
  return Tensor::from_floats(v, {n}, DType::i32);
}

inline Vec to_double(const Tensor& t) {
  std::vector<float> f = t.to_floats();
  return Vec(f.begin(), f.end());
}

// Gradient of f at x by central differences, only at the given indices.
inline Vec fd_grad_at(const std::function<double(const Vec&)>& f, Vec x,
                      const std::vector<std::size_t>& at, double eps = 1e-5) {
  Vec g;
  for (std::size_t i : at) {
    double x0 = x[i];
    x[i] = x0 + eps;
    double fp = f(x);
    x[i] = x0 - eps;
    double fm = f(x);
    x[i] = x0;
    g.push_back((fp - fm) / (2 * eps));
  }
  return g;
}

inline double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Gradient of f at x by central differences (f is a double-precision forward).
inline Vec fd_grad(const std::function<double(const Vec&)>& f, const Vec& x, double eps = 1e-5) {
  std::vector<std::size_t> all(x.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  return fd_grad_at(f, x, all, eps);
}

// max_i |got_i - want_i| <= tol * max_i |want_i| (tol alone when want is all zero).
inline void expect_close(const std::vector<float>& got, const Vec& want, double tol,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 0, worst = 0;
  std::size_t at = 0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  if (scale == 0) scale = 1;
  for (std::size_t i = 0; i < got.size(); ++i) {
    double e = std::abs(double(got[i]) - want[i]);
    if (std::isnan(e)) {
      worst = INFINITY, at = i;
      break;
    }
    if (e > worst) worst = e, at = i;
  }
  EXPECT_LE(worst, tol * scale) << what << ": element " << at << " got " << got[at] << " want "
                                << want[at];
}
inline void expect_close(const Tensor& got, const Vec& want, double tol, const std::string& what) {
  expect_close(got.to_floats(), want, tol, what);
}

inline Tensor nan_tensor(const Shape& s) {
  return Tensor::from_floats(std::vector<float>(std::size_t(shape_numel(s)), NAN), s, DType::f32);
}

}  // namespace vpmoe::testing
