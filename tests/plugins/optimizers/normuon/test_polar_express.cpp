// Polar Express: on matrices built with known singular vectors and values (square, tall,
// wide, 4 x 512 and 512 x 4), the output acts on each singular value by the composed scalar map
// of the table, inside the band [0.8588, 1.1412] wherever the normalised input value is at least
// 1e-3 (f32 CPU; CUDA bf16, as the optimizer runs it, in [0.80, 1.20], and the map of an input
// within 2^-7 of the value followed to 0.03 from 1e-2 up). The spec's
// [0.859, 1.141] is that band rounded inward: in double the composed map reaches 0.858873
// and 1.141130 on [1e-3, 1]. Tall and wide give transposed results; the coefficient file is read or
// refused with the path and the bad entry.
#include <fstream>

#include "core/ops_cpu/cpu_test_util.h"
#include "normuon_kernels.h"
#include "normuon_reference.h"
#include "polar_express.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {
namespace {

// k orthonormal columns of length n (Gram-Schmidt on Gaussians, double), column-major pieces.
std::vector<Vec> orthonormal(std::mt19937& g, int n, int k) {
  std::normal_distribution<double> d;
  std::vector<Vec> q;
  while (int(q.size()) < k) {
    Vec v(static_cast<std::size_t>(n));
    for (double& x : v) x = d(g);
    for (int pass = 0; pass < 2; ++pass)
      for (const Vec& u : q) {
        double dot = 0;
        for (int i = 0; i < n; ++i) dot += u[std::size_t(i)] * v[std::size_t(i)];
        for (int i = 0; i < n; ++i) v[std::size_t(i)] -= dot * u[std::size_t(i)];
      }
    double nn = 0;
    for (double x : v) nn += x * x;
    for (double& x : v) x /= std::sqrt(nn);
    q.push_back(v);
  }
  return q;
}

struct Known {
  int m, n;
  std::vector<Vec> left, right;  // k vectors of length m and n
  Vec sigma;                     // raw singular values
  Vec u;                         // [m, n] = sum_i sigma_i left_i right_i^T
};

Known make_known(std::mt19937& g, int m, int n) {
  const int k = std::min(m, n);
  Known K{m, n, orthonormal(g, m, k), orthonormal(g, n, k), Vec(std::size_t(k)), {}};
  std::uniform_real_distribution<double> e(std::log(1e-5), std::log(3e-2));
  for (int i = 0; i < k; ++i) K.sigma[std::size_t(i)] = i == 0 ? 1.0 : std::exp(e(g));
  K.u.assign(std::size_t(m) * n, 0.0);
  for (int i = 0; i < k; ++i)
    for (int r = 0; r < m; ++r)
      for (int c = 0; c < n; ++c)
        K.u[std::size_t(r) * n + c] += K.sigma[std::size_t(i)] *
                                       K.left[std::size_t(i)][std::size_t(r)] *
                                       K.right[std::size_t(i)][std::size_t(c)];
  return K;
}

// Runs the plugin's normalisation + Polar Express on `dev` (work dtype dt) and checks each
// singular value against the scalar map to tol where the normalised value is at least
// near_from (bf16 X cannot resolve values far below its largest one). With slack > 0 the
// value is held to the map of some input within a relative slack of it: the composed map is
// steep in places (its slope reaches ~200 near 0.98), so a bf16 rounding of the input moves
// the output far more than the rounding itself.
void check_band(const Known& K, Device dev, DType dt, double lo, double hi, double tol,
                double near_from = 0, double slack = 0) {
  const auto& coeffs = normuon::default_coeffs();
  std::vector<float> f(K.u.begin(), K.u.end());
  Tensor u = Tensor::from_floats(f, {1, K.m, K.n}, DType::f32, dev);
  Tensor x = u;
  if (dt == DType::f32) {
    normuon::frobenius_normalize(u, x, 1.02f, 1e-6f);
    normuon::polar_express(x, coeffs);
  } else {  // as the optimizer runs it: the factor folded into the first step
    const Tensor scale = normuon::frobenius_scales(normuon::sumsq_of(u), 1.02f, 1e-6f);
    x = ops::cast_to(u, dt);
    normuon::polar_express(x, coeffs, &scale);
  }
  const std::vector<float> o = x.to_floats();
  double norm = 0;
  for (double s : K.sigma) norm += s * s;
  const double d = std::sqrt(norm) * 1.02 + 1e-6;
  int in_band = 0;
  for (std::size_t i = 0; i < K.sigma.size(); ++i) {
    // left_i^T O right_i: the output's value on this singular pair.
    double got = 0;
    for (int r = 0; r < K.m; ++r)
      for (int c = 0; c < K.n; ++c)
        got += K.left[i][std::size_t(r)] * double(o[std::size_t(r) * K.n + c]) *
               K.right[i][std::size_t(c)];
    const double s = K.sigma[i] / d;
    double want = ref::scalar_map(s, coeffs);
    for (int q = -100; q <= 100 && slack > 0; ++q) {
      const double w = ref::scalar_map(s * (1 + slack * q / 100), coeffs);
      if (std::abs(got - w) < std::abs(got - want)) want = w;
    }
    if (s >= near_from) EXPECT_NEAR(got, want, tol) << K.m << "x" << K.n << " sigma " << s;
    if (s >= 1e-3) {
      ++in_band;
      EXPECT_GE(got, lo) << K.m << "x" << K.n << " sigma " << s;
      EXPECT_LE(got, hi) << K.m << "x" << K.n << " sigma " << s;
    }
  }
  EXPECT_GT(in_band, 0) << "no singular value in the band region";
}

const std::pair<int, int> kShapes[] = {{64, 64}, {1024, 128}, {128, 1024}, {4, 512}, {512, 4}};

TEST(PolarExpress, SingularValuesFollowTheScalarMapInsideTheBand) {
  std::mt19937 g(7);
  for (auto [m, n] : kShapes)
    check_band(make_known(g, m, n), Device::cpu(), DType::f32, 0.8588, 1.1412, 2e-3);
}

TEST(PolarExpress, TheScalarMapOfTheTableHasTheSpecsBand) {
  const auto& c = normuon::default_coeffs();
  double lo = 2, hi = 0;
  for (double s = 1e-3; s <= 1.0; s *= 1.001) {
    lo = std::min(lo, ref::scalar_map(s, c));
    hi = std::max(hi, ref::scalar_map(s, c));
  }
  EXPECT_GE(lo, 0.8588);
  EXPECT_LE(hi, 1.1412);
  EXPECT_NEAR(lo, 0.859, 2e-4) << "the spec's band, to its rounding";
  EXPECT_NEAR(hi, 1.141, 2e-4);
  EXPECT_NEAR(ref::scalar_map(1e-4, c), 0.099, 1e-3);
}

TEST(PolarExpress, TallAndWideGiveTransposedResults) {
  std::mt19937 g(8);
  const std::int64_t m = 40, n = 12;
  Tensor tall = rand_tensor(g, {1, m, n});
  std::vector<float> t = tall.to_floats(), w(t.size());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) w[std::size_t(j * m + i)] = t[std::size_t(i * n + j)];
  Tensor wide = Tensor::from_floats(w, {1, n, m}, DType::f32);
  for (Tensor* x : {&tall, &wide}) {
    normuon::frobenius_normalize(*x, *x, 1.02f, 1e-6f);
    normuon::polar_express(*x, normuon::default_coeffs());
  }
  const std::vector<float> a = tall.to_floats(), b = wide.to_floats();
  Vec bt(a.size());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) bt[std::size_t(i * n + j)] = b[std::size_t(j * m + i)];
  expect_close(a, bt, 1e-5, "tall vs transposed wide");
}

TEST(PolarExpress, MatchesTheDoubleReference) {
  std::mt19937 g(9);
  for (auto [m, n] : {std::pair{9, 9}, std::pair{16, 5}, std::pair{5, 16}}) {
    Tensor x = rand_tensor(g, {1, m, n});
    const Vec want = ref::polar_express(to_double(x), m, n, normuon::default_coeffs());
    normuon::frobenius_normalize(x, x, 1.02f, 1e-6f);
    normuon::polar_express(x, normuon::default_coeffs());
    expect_close(x, want, 1e-5, std::to_string(m) + "x" + std::to_string(n));
  }
}

TEST(PolarExpress, CoefficientFileIsReadOrRefusedWithThePathAndEntry) {
  const std::string dir = ::testing::TempDir();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + name) << text;
    return dir + name;
  };
  const normuon::Coeffs two =
      normuon::load_coeffs(write("two.json", "[[2, -1.5, 0.5], [1.875, -1.25, 0.375]]"));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1][2], 0.375);
  auto message = [&](const std::string& text) {
    const std::string path = write("bad.json", text);
    try {
      normuon::load_coeffs(path);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message("[[1, 2, 3], [1, 2]]").find("entry 1"), std::string::npos);
  EXPECT_NE(message("[[1, 2, \"x\"]]").find("entry 0"), std::string::npos);
  EXPECT_NE(message("[]").find("non-empty"), std::string::npos);
  EXPECT_NE(message("{oops").find("not JSON"), std::string::npos);
  EXPECT_THROW(normuon::load_coeffs(dir + "missing.json"), Error);
}

TEST(PolarExpress, CudaBf16StaysInAWiderBand) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  std::mt19937 g(10);
  for (auto [m, n] : kShapes)
    check_band(make_known(g, m, n), Device::cuda(0), DType::bf16, 0.80, 1.20, 3e-2, 1e-2, 0x1p-7);
}

}  // namespace
}  // namespace vpmoe::testing
