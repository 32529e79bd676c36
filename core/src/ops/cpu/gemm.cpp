// fp32 GEMM through OpenBLAS (row-major): plain, strided-batched and grouped.
#include <cblas.h>

#include <string>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {
namespace {

using detail::check_f32;

// c[M,N] = alpha * op(a) @ op(b) + beta * c with leading dims ld*. Handles the degenerate
// sizes BLAS rejects (a zero leading dim) or treats loosely (beta = 0 must overwrite NaN).
void sgemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
           const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
           std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) {
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) {
        float& x = c[i * ldc + j];
        x = beta == 0.0f ? 0.0f : beta * x;
      }
    return;
  }
  constexpr std::int64_t kMax = 0x7fffffff;  // cblas takes int
  VPMOE_CHECK(M <= kMax && N <= kMax && K <= kMax && lda <= kMax && ldb <= kMax && ldc <= kMax,
              "gemm: a dimension exceeds the 32-bit range of cblas");
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M),
              int(N), int(K), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

std::string dims(const Tensor& t) {
  return t.str();
}

}  // namespace

void gemm(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, float alpha,
          float beta) {
  check_f32(a, "gemm: a");
  check_f32(b, "gemm: b");
  check_f32(c, "gemm: c");
  auto bad = [&](const std::string& why) {
    return Error("gemm: " + why + " (a " + dims(a) + (trans_a ? "^T" : "") + ", b " + dims(b) +
                 (trans_b ? "^T" : "") + ", c " + dims(c) + ")");
  };
  if (c.ndim() != 2 && c.ndim() != 3) throw bad("c must be 2-D or 3-D");
  if (a.ndim() != 2 && a.ndim() != 3) throw bad("a must be 2-D or 3-D");
  if (b.ndim() != 2 && b.ndim() != 3) throw bad("b must be 2-D or 3-D");
  std::int64_t batch = c.ndim() == 3 ? c.size(0) : 1;
  if (c.ndim() == 2 && (a.ndim() == 3 || b.ndim() == 3)) throw bad("3-D a or b needs a 3-D c");
  if (a.ndim() == 3 && a.size(0) != batch) throw bad("batch of a differs from c");
  if (b.ndim() == 3 && b.size(0) != batch) throw bad("batch of b differs from c");

  std::int64_t M = c.size(-2), N = c.size(-1);
  std::int64_t am = trans_a ? a.size(-1) : a.size(-2), K = trans_a ? a.size(-2) : a.size(-1);
  std::int64_t bk = trans_b ? b.size(-1) : b.size(-2), bn = trans_b ? b.size(-2) : b.size(-1);
  if (am != M || bn != N || bk != K) throw bad("inner or outer dimensions do not match");

  std::int64_t sa = a.ndim() == 3 ? a.size(1) * a.size(2) : 0;
  std::int64_t sb = b.ndim() == 3 ? b.size(1) * b.size(2) : 0;
  const float* pa = a.data_as<const float>();
  const float* pb = b.data_as<const float>();
  float* pc = c.data_as<float>();
  for (std::int64_t i = 0; i < batch; ++i)
    sgemm(trans_a, trans_b, M, N, K, alpha, pa + i * sa, a.size(-1), pb + i * sb, b.size(-1), beta,
          pc + i * M * N, N);
}

namespace {

// Checks rows (each >= 0, summing to M) against G.
void check_groups(std::span<const std::int64_t> rows, std::int64_t G, std::int64_t M,
                  const char* op) {
  if (std::int64_t(rows.size()) != G)
    throw Error(std::string(op) + ": " + std::to_string(rows.size()) + " group sizes for " +
                std::to_string(G) + " groups");
  std::int64_t total = 0;
  for (std::int64_t r : rows) {
    if (r < 0) throw Error(std::string(op) + ": negative group size " + std::to_string(r));
    total += r;
  }
  if (total != M)
    throw Error(std::string(op) + ": group sizes sum to " + std::to_string(total) + ", rows are " +
                std::to_string(M));
}

}  // namespace

void gemm_grouped(const Tensor& a, const Tensor& b, Tensor& c, std::span<const std::int64_t> rows,
                  bool trans_b, float alpha, float beta) {
  check_f32(a, "gemm_grouped: a");
  check_f32(b, "gemm_grouped: b");
  check_f32(c, "gemm_grouped: c");
  if (a.ndim() != 2 || b.ndim() != 3 || c.ndim() != 2)
    throw Error("gemm_grouped: need a [M,K], b [G,K,N] (or [G,N,K]), c [M,N]; got a " + a.str() +
                ", b " + b.str() + ", c " + c.str());
  std::int64_t M = a.size(0), K = a.size(1), G = b.size(0);
  std::int64_t N = trans_b ? b.size(1) : b.size(2);
  Shape want_b = trans_b ? Shape{G, N, K} : Shape{G, K, N};
  check_shape(b, want_b, "gemm_grouped: b");
  check_shape(c, {M, N}, "gemm_grouped: c");
  check_groups(rows, G, M, "gemm_grouped");
  const float* pa = a.data_as<const float>();
  const float* pb = b.data_as<const float>();
  float* pc = c.data_as<float>();
  std::int64_t off = 0;
  for (std::int64_t g = 0; g < G; ++g) {
    sgemm(false, trans_b, rows[g], N, K, alpha, pa + off * K, K, pb + g * K * N, b.size(2), beta,
          pc + off * N, N);
    off += rows[g];
  }
}

void gemm_grouped_wgrad(const Tensor& a, const Tensor& b, Tensor& c,
                        std::span<const std::int64_t> rows, float alpha, float beta) {
  check_f32(a, "gemm_grouped_wgrad: a");
  check_f32(b, "gemm_grouped_wgrad: b");
  check_f32(c, "gemm_grouped_wgrad: c");
  if (a.ndim() != 2 || b.ndim() != 2 || c.ndim() != 3)
    throw Error("gemm_grouped_wgrad: need a [M,K], b [M,N], c [G,K,N]; got a " + a.str() + ", b " +
                b.str() + ", c " + c.str());
  std::int64_t M = a.size(0), K = a.size(1), N = b.size(1), G = c.size(0);
  check_shape(b, {M, N}, "gemm_grouped_wgrad: b");
  check_shape(c, {G, K, N}, "gemm_grouped_wgrad: c");
  check_groups(rows, G, M, "gemm_grouped_wgrad");
  const float* pa = a.data_as<const float>();
  const float* pb = b.data_as<const float>();
  float* pc = c.data_as<float>();
  std::int64_t off = 0;
  for (std::int64_t g = 0; g < G; ++g) {
    // K = 0 rows in the group: sgemm scales c[g] by beta.
    sgemm(true, false, K, N, rows[g], alpha, pa + off * K, K, pb + off * N, N, beta, pc + g * K * N,
          N);
    off += rows[g];
  }
}

}  // namespace vpmoe::ops::cpu
