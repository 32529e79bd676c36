// GEMM (plain, strided-batched, grouped, grouped wgrad) against double references, and the
// gemm-based backward formulas against finite differences of the double forward.
#include "cpu_test_util.h"

namespace vpmoe::testing {
namespace {

// c[M,N] = alpha * op(a) op(b) + beta * c0 in double; a, b row-major with their own layouts.
Vec ref_gemm(const Vec& a, const Vec& b, const Vec& c0, std::int64_t M, std::int64_t N,
             std::int64_t K, bool ta, bool tb, double alpha, double beta) {
  Vec c(static_cast<std::size_t>(M * N));
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (std::int64_t k = 0; k < K; ++k)
        s += (ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
      c[i * N + j] = alpha * s + (beta == 0 ? 0.0 : beta * c0[i * N + j]);
    }
  return c;
}

Vec sub(const Vec& v, std::int64_t off, std::int64_t n) {
  return Vec(v.begin() + off, v.begin() + off + n);
}

TEST(Gemm, TwoDAllTransposesAlphaBeta) {
  std::mt19937 g(101);
  const std::int64_t M = 13, N = 9, K = 17;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (float beta : {0.0f, 0.5f}) {
        Tensor a = rand_tensor(g, ta ? Shape{K, M} : Shape{M, K});
        Tensor b = rand_tensor(g, tb ? Shape{N, K} : Shape{K, N});
        Tensor c = rand_tensor(g, {M, N});
        Vec c0 = to_double(c);
        ops::gemm(a, b, c, ta, tb, 1.5f, beta);
        Vec want = ref_gemm(to_double(a), to_double(b), c0, M, N, K, ta, tb, 1.5, beta);
        expect_close(c, want, 1e-5,
                     "ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                         " beta=" + std::to_string(beta));
      }
}

TEST(Gemm, BetaZeroOverwritesNaN) {
  std::mt19937 g(102);
  Tensor a = rand_tensor(g, {4, 3}), b = rand_tensor(g, {3, 5});
  Tensor c = nan_tensor({4, 5});
  ops::gemm(a, b, c);
  expect_close(c, ref_gemm(to_double(a), to_double(b), {}, 4, 5, 3, false, false, 1, 0), 1e-5,
               "beta=0 over NaN");
  // K = 0: c = beta * c.
  Tensor a0 = Tensor::empty({4, 0}, DType::f32), b0 = Tensor::empty({0, 5}, DType::f32);
  Tensor c2 = rand_tensor(g, {4, 5});
  Vec c2v = to_double(c2);
  ops::gemm(a0, b0, c2, false, false, 1.0f, 0.25f);
  for (double& x : c2v) x *= 0.25;
  expect_close(c2, c2v, 1e-6, "K=0");
}

TEST(Gemm, BatchedWithBroadcastOperands) {
  std::mt19937 g(103);
  const std::int64_t Bt = 3, M = 5, N = 4, K = 6;
  struct Case {
    bool a3, b3, ta, tb;
  };
  for (Case cs : {Case{true, true, false, false}, Case{false, true, false, true},
                  Case{true, false, true, false}, Case{true, true, true, true}}) {
    Shape sa = cs.ta ? Shape{K, M} : Shape{M, K}, sb = cs.tb ? Shape{N, K} : Shape{K, N};
    if (cs.a3) sa.insert(sa.begin(), Bt);
    if (cs.b3) sb.insert(sb.begin(), Bt);
    Tensor a = rand_tensor(g, sa), b = rand_tensor(g, sb), c = rand_tensor(g, {Bt, M, N});
    Vec av = to_double(a), bv = to_double(b), cv = to_double(c);
    ops::gemm(a, b, c, cs.ta, cs.tb, 0.75f, 1.0f);
    Vec want;
    for (std::int64_t i = 0; i < Bt; ++i) {
      Vec ai = cs.a3 ? sub(av, i * M * K, M * K) : av, bi = cs.b3 ? sub(bv, i * K * N, K * N) : bv;
      Vec ci = ref_gemm(ai, bi, sub(cv, i * M * N, M * N), M, N, K, cs.ta, cs.tb, 0.75, 1.0);
      want.insert(want.end(), ci.begin(), ci.end());
    }
    expect_close(c, want, 1e-5,
                 "batched a3=" + std::to_string(cs.a3) + " b3=" + std::to_string(cs.b3));
  }
}

TEST(Gemm, LargeMatchesReference) {
  std::mt19937 g(104);
  const std::int64_t M = 96, N = 80, K = 130;
  Tensor a = rand_tensor(g, {M, K}), b = rand_tensor(g, {N, K}),
         c = Tensor::zeros({M, N}, DType::f32);
  ops::gemm(a, b, c, false, true);
  expect_close(c, ref_gemm(to_double(a), to_double(b), {}, M, N, K, false, true, 1, 0), 1e-5,
               "large");
}

// y = a @ b, L = sum(r * y): dA = r b^T, dB = a^T r (gemm of the grad), and with trans_b
// (y = a @ b^T): dB = r^T a.
TEST(Gemm, BackwardFormulasMatchFiniteDifferences) {
  std::mt19937 g(105);
  const std::int64_t M = 5, N = 4, K = 7;
  for (bool tb : {false, true}) {
    Tensor a = rand_tensor(g, {M, K}), b = rand_tensor(g, tb ? Shape{N, K} : Shape{K, N});
    Tensor r = rand_tensor(g, {M, N});
    Vec av = to_double(a), bv = to_double(b), rv = to_double(r);
    auto L = [&](const Vec& A, const Vec& B) {
      return dot(rv, ref_gemm(A, B, {}, M, N, K, false, tb, 1, 0));
    };
    Vec ga = fd_grad([&](const Vec& A) { return L(A, bv); }, av);
    Vec gb = fd_grad([&](const Vec& B) { return L(av, B); }, bv);
    Tensor da = Tensor::empty(a.shape(), DType::f32), db = Tensor::empty(b.shape(), DType::f32);
    ops::gemm(r, b, da, false, !tb);  // r [M,N] @ op(b)^T
    if (tb)
      ops::gemm(r, a, db, true, false);  // r^T a : [N,K]
    else
      ops::gemm(a, r, db, true, false);  // a^T r : [K,N]
    expect_close(da, ga, 1e-5, std::string("dA tb=") + (tb ? "1" : "0"));
    expect_close(db, gb, 1e-5, std::string("dB tb=") + (tb ? "1" : "0"));
  }
}

TEST(Gemm, RejectsBadArguments) {
  Tensor a = Tensor::zeros({3, 4}, DType::f32), b = Tensor::zeros({5, 6}, DType::f32);
  Tensor c = Tensor::zeros({3, 6}, DType::f32);
  EXPECT_THROW(ops::gemm(a, b, c), Error);  // K mismatch
  Tensor b2 = Tensor::zeros({4, 6}, DType::f32), cbad = Tensor::zeros({3, 5}, DType::f32);
  EXPECT_THROW(ops::gemm(a, b2, cbad), Error);  // N mismatch
  Tensor ai = Tensor::zeros({3, 4}, DType::i32);
  EXPECT_THROW(ops::gemm(ai, b2, c), Error);  // dtype
  Tensor a3 = Tensor::zeros({2, 3, 4}, DType::f32), c3 = Tensor::zeros({3, 3, 6}, DType::f32);
  EXPECT_THROW(ops::gemm(a3, b2, c3), Error);  // batch mismatch
  EXPECT_THROW(ops::gemm(a3, b2, c), Error);   // 3-D a, 2-D c
  try {
    ops::gemm(a, b, c);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gemm"), std::string::npos) << e.what();
  }
}

// ---- grouped -----------------------------------------------------------------------------

const std::vector<std::int64_t> kRows = {3, 0, 5, 2};  // includes an empty group

TEST(GemmGrouped, ForwardMatchesReference) {
  std::mt19937 g(106);
  const std::int64_t M = 10, K = 4, N = 6, G = 4;
  for (bool tb : {false, true})
    for (float beta : {0.0f, 0.5f}) {
      Tensor a = rand_tensor(g, {M, K}), b = rand_tensor(g, tb ? Shape{G, N, K} : Shape{G, K, N});
      Tensor c = rand_tensor(g, {M, N});
      Vec av = to_double(a), bv = to_double(b), cv = to_double(c), want;
      ops::gemm_grouped(a, b, c, kRows, tb, 2.0f, beta);
      std::int64_t off = 0;
      for (std::int64_t k = 0; k < G; ++k) {
        std::int64_t m = kRows[k];
        Vec ck = ref_gemm(sub(av, off * K, m * K), sub(bv, k * K * N, K * N),
                          sub(cv, off * N, m * N), m, N, K, false, tb, 2.0, beta);
        want.insert(want.end(), ck.begin(), ck.end());
        off += m;
      }
      expect_close(c, want, 1e-5, "grouped tb=" + std::to_string(tb));
    }
}

TEST(GemmGrouped, WgradMatchesReferenceAndScalesEmptyGroups) {
  std::mt19937 g(107);
  const std::int64_t M = 10, K = 4, N = 6, G = 4;
  Tensor a = rand_tensor(g, {M, K}), b = rand_tensor(g, {M, N}), c = rand_tensor(g, {G, K, N});
  Vec av = to_double(a), bv = to_double(b), cv = to_double(c), want;
  ops::gemm_grouped_wgrad(a, b, c, kRows, 1.5f, 0.5f);
  std::int64_t off = 0;
  for (std::int64_t k = 0; k < G; ++k) {
    std::int64_t m = kRows[k];
    Vec ck = ref_gemm(sub(av, off * K, m * K), sub(bv, off * N, m * N), sub(cv, k * K * N, K * N),
                      K, N, m, true, false, 1.5, 0.5);
    want.insert(want.end(), ck.begin(), ck.end());
    off += m;
  }
  expect_close(c, want, 1e-5, "wgrad");
  Tensor cn = nan_tensor({G, K, N});
  ops::gemm_grouped_wgrad(a, b, cn, kRows, 1.0f, 0.0f);
  std::vector<float> f = cn.to_floats();
  for (std::int64_t i = K * N; i < 2 * K * N; ++i) EXPECT_EQ(f[i], 0.0f) << "empty group " << i;
}

// y = grouped(a, b), L = sum(r * y): da = grouped(r, b, !trans_b), db = grouped_wgrad(a, r)
// (or its transpose grouped_wgrad(r, a) when b is [G,N,K]).
TEST(GemmGrouped, BackwardMatchesFiniteDifferences) {
  std::mt19937 g(108);
  const std::int64_t M = 10, K = 4, N = 3, G = 4;
  for (bool tb : {false, true}) {
    Shape sb = tb ? Shape{G, N, K} : Shape{G, K, N};
    Tensor a = rand_tensor(g, {M, K}), b = rand_tensor(g, sb), r = rand_tensor(g, {M, N});
    Vec av = to_double(a), bv = to_double(b), rv = to_double(r);
    auto L = [&](const Vec& A, const Vec& B) {
      double s = 0;
      std::int64_t off = 0;
      for (std::int64_t k = 0; k < G; ++k) {
        std::int64_t m = kRows[k];
        Vec y = ref_gemm(sub(A, off * K, m * K), sub(B, k * K * N, K * N), {}, m, N, K, false, tb,
                         1, 0);
        s += dot(sub(rv, off * N, m * N), y);
        off += m;
      }
      return s;
    };
    Vec ga = fd_grad([&](const Vec& A) { return L(A, bv); }, av);
    Vec gb = fd_grad([&](const Vec& B) { return L(av, B); }, bv);
    Tensor da = Tensor::empty({M, K}, DType::f32), db = nan_tensor(sb);
    ops::gemm_grouped(r, b, da, kRows, !tb);
    if (tb)
      ops::gemm_grouped_wgrad(r, a, db, kRows);
    else
      ops::gemm_grouped_wgrad(a, r, db, kRows);
    expect_close(da, ga, 1e-5, "grouped da tb=" + std::to_string(tb));
    expect_close(db, gb, 1e-5, "grouped db tb=" + std::to_string(tb));
  }
}

TEST(GemmGrouped, RejectsBadGroups) {
  Tensor a = Tensor::zeros({10, 4}, DType::f32), b = Tensor::zeros({4, 4, 6}, DType::f32);
  Tensor c = Tensor::zeros({10, 6}, DType::f32);
  std::vector<std::int64_t> short_sum = {3, 0, 5, 1}, neg = {3, -1, 6, 2}, three = {5, 5, 0};
  EXPECT_THROW(ops::gemm_grouped(a, b, c, short_sum), Error);
  EXPECT_THROW(ops::gemm_grouped(a, b, c, neg), Error);
  EXPECT_THROW(ops::gemm_grouped(a, b, c, three), Error);
  Tensor w = Tensor::zeros({4, 4, 6}, DType::f32), bb = Tensor::zeros({10, 5}, DType::f32);
  EXPECT_THROW(ops::gemm_grouped_wgrad(a, bb, w, kRows), Error);
}

}  // namespace
}  // namespace vpmoe::testing
