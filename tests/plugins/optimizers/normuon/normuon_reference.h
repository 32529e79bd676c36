#pragma once
// The spec's NorMuon and Polar Express (spec/optimizer.md §2-3) in double, written from the
// formulas, for the optimizer tests.
#include <array>
#include <cmath>
#include <vector>

namespace vpmoe::testing::ref {

using Mat = std::vector<double>;  // row-major

inline Mat matmul(const Mat& a, const Mat& b, int m, int k, int n) {
  Mat c(std::size_t(m) * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int p = 0; p < k; ++p)
      for (int j = 0; j < n; ++j)
        c[std::size_t(i) * n + j] += a[std::size_t(i) * k + p] * b[std::size_t(p) * n + j];
  return c;
}
inline Mat transpose(const Mat& a, int m, int n) {
  Mat t(a.size());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) t[std::size_t(j) * m + i] = a[std::size_t(i) * n + j];
  return t;
}

// Polar Express of u [m, n] (§3), transposing tall inputs.
inline Mat polar_express(Mat u, int m, int n, const std::vector<std::array<double, 3>>& coeffs,
                         double safety = 2e-2) {
  const bool tall = m > n;
  if (tall) u = transpose(u, m, n), std::swap(m, n);
  double ss = 0;
  for (double v : u) ss += v * v;
  const double d = std::sqrt(ss) * (1 + safety) + 1e-6;
  for (double& v : u) v /= d;
  for (const auto& [a, b, c] : coeffs) {
    const Mat A = matmul(u, transpose(u, m, n), m, n, m);
    const Mat A2 = matmul(A, A, m, m, m);
    Mat B(A.size());
    for (std::size_t i = 0; i < B.size(); ++i) B[i] = b * A[i] + c * A2[i];
    const Mat BX = matmul(B, u, m, m, n);
    for (std::size_t i = 0; i < u.size(); ++i) u[i] = a * u[i] + BX[i];
  }
  if (tall) u = transpose(u, m, n), std::swap(m, n);
  return u;
}

// The composed scalar map of the polynomials on one singular value.
inline double scalar_map(double s, const std::vector<std::array<double, 3>>& coeffs) {
  for (const auto& [a, b, c] : coeffs) s = a * s + b * s * s * s + c * s * s * s * s * s;
  return s;
}

struct MatrixState {
  Mat momentum, v;
};

// One NorMuon step of w [m, n] with grad g (§2); returns the update S before the shape scale.
inline Mat normuon_step(Mat& w, const Mat& g, MatrixState& st, int m, int n, double lr, double wd,
                        const std::vector<std::array<double, 3>>& coeffs, double mu = 0.95,
                        double beta2 = 0.95, double eps = 1e-10) {
  if (st.momentum.empty()) st.momentum.assign(g.size(), 0.0), st.v.assign(std::size_t(m), 0.0);
  Mat u(g.size());
  for (std::size_t i = 0; i < g.size(); ++i) {
    st.momentum[i] = mu * st.momentum[i] + (1 - mu) * g[i];
    u[i] = (1 - mu) * g[i] + mu * st.momentum[i];
  }
  const Mat o = polar_express(u, m, n, coeffs);
  Mat s(o.size());
  double no = 0, ns = 0;
  for (int i = 0; i < m; ++i) {
    double r = 0;
    for (int j = 0; j < n; ++j) r += o[std::size_t(i) * n + j] * o[std::size_t(i) * n + j];
    r /= n;
    st.v[std::size_t(i)] = beta2 * st.v[std::size_t(i)] + (1 - beta2) * r;
    for (int j = 0; j < n; ++j) {
      const double x = o[std::size_t(i) * n + j];
      s[std::size_t(i) * n + j] = x / std::sqrt(st.v[std::size_t(i)] + eps);
      no += x * x;
      ns += s[std::size_t(i) * n + j] * s[std::size_t(i) * n + j];
    }
  }
  const double ratio = std::sqrt(no) / std::max(std::sqrt(ns), eps);
  for (double& x : s) x *= ratio;
  const double scale = std::sqrt(std::max(1.0, double(m) / n));
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = w[i] * (1 - lr * wd) - lr * scale * s[i];
  return s;
}

}  // namespace vpmoe::testing::ref
