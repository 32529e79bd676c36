// gemm, gemm_grouped and gemm_grouped_wgrad on CUDA against the CPU ops.
#include <numeric>
#include <string>
#include <vector>

#include "core/ops_cuda/cuda_test_util.h"
#include "ops/cuda/gemm_internal.h"

namespace vpmoe::testing {
namespace {

struct AlphaBeta {
  float alpha, beta;
};
const AlphaBeta kAlphaBeta[] = {{1.f, 0.f}, {0.75f, -1.5f}};

// c on both devices: poisoned (GPU) / zero (CPU) when beta == 0, else the same random values.
Pair make_c(const Shape& s, DType dt, float beta) {
  if (beta == 0.f) return {poisoned(s, dt), Tensor::zeros(s, DType::f32, cpu())};
  return random_pair(s, dt);
}

void check_gemm(const Shape& sa, const Shape& sb, const Shape& sc, bool ta, bool tb, DType dt,
                DType ct, AlphaBeta ab) {
  Pair a = random_pair(sa, dt), b = random_pair(sb, dt);
  Pair c = make_c(sc, ct, ab.beta);
  ops::gemm(a.dev, b.dev, c.dev, ta, tb, ab.alpha, ab.beta);
  ops::gemm(a.cpu, b.cpu, c.cpu, ta, tb, ab.alpha, ab.beta);
  double err = rel_err(c.dev, c.cpu);
  EXPECT_LT(err, tol(dt)) << "a " << shape_str(sa) << " b " << shape_str(sb) << " ta " << ta
                          << " tb " << tb << " ab " << dt_str(dt) << " c " << dt_str(ct)
                          << " alpha " << ab.alpha << " beta " << ab.beta;
}

// C dtypes to test with inputs of dtype dt: f32, and dt itself.
std::vector<DType> c_dtypes(DType dt) {
  return dt == DType::f32 ? std::vector<DType>{DType::f32} : std::vector<DType>{DType::f32, dt};
}

struct Mnk {
  std::int64_t m, n, k;
};
const Mnk kSizes[] = {{1, 1, 1}, {17, 33, 9}, {64, 128, 256}, {129, 65, 67}, {8, 250, 3}};

TEST(OpsCuda, Gemm2d) {
  VPMOE_REQUIRE_CUDA();
  for (DType dt : {DType::f32, DType::bf16})
    for (DType ct : c_dtypes(dt))
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (AlphaBeta ab : kAlphaBeta)
            for (Mnk s : kSizes) {
              Shape sa = ta ? Shape{s.k, s.m} : Shape{s.m, s.k};
              Shape sb = tb ? Shape{s.n, s.k} : Shape{s.k, s.n};
              check_gemm(sa, sb, {s.m, s.n}, ta, tb, dt, ct, ab);
            }
}

TEST(OpsCuda, GemmBatched) {
  VPMOE_REQUIRE_CUDA();
  const std::int64_t B = 3, M = 19, N = 24, K = 40;
  for (DType dt : {DType::f32, DType::bf16})
    for (DType ct : c_dtypes(dt))
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (AlphaBeta ab : kAlphaBeta) {
            Shape a2 = ta ? Shape{K, M} : Shape{M, K}, b2 = tb ? Shape{N, K} : Shape{K, N};
            Shape a3 = {B, a2[0], a2[1]}, b3 = {B, b2[0], b2[1]};
            check_gemm(a3, b3, {B, M, N}, ta, tb, dt, ct, ab);  // both batched
            check_gemm(a3, b2, {B, M, N}, ta, tb, dt, ct, ab);  // shared b
            check_gemm(a2, b3, {B, M, N}, ta, tb, dt, ct, ab);  // shared a
          }
}

// Thousands of tiny products (TPA's per-token factors and their gradients: gemm_small_batched),
// every transpose, and an odd batch that leaves a block part-filled; repeatable bits.
TEST(OpsCuda, GemmSmallBatched) {
  VPMOE_REQUIRE_CUDA();
  const std::int64_t B = 1001;
  const Mnk shapes[] = {{8, 128, 4}, {8, 4, 128}, {4, 128, 8}, {2, 128, 2}, {3, 5, 7}};
  for (Mnk s : shapes)
    for (DType dt : {DType::f32, DType::bf16})
      for (DType ct : c_dtypes(dt))
        for (bool ta : {false, true})
          for (bool tb : {false, true})
            for (AlphaBeta ab : kAlphaBeta) {
              Shape a3 = ta ? Shape{B, s.k, s.m} : Shape{B, s.m, s.k};
              Shape b3 = tb ? Shape{B, s.n, s.k} : Shape{B, s.k, s.n};
              check_gemm(a3, b3, {B, s.m, s.n}, ta, tb, dt, ct, ab);
            }
  Pair a = random_pair({B, 8, 128}, DType::bf16), b = random_pair({B, 4, 128}, DType::bf16);
  Tensor c1 = Tensor::empty({B, 8, 4}, DType::bf16, a.dev.device());
  Tensor c2 = Tensor::empty({B, 8, 4}, DType::bf16, a.dev.device());
  ops::gemm(a.dev, b.dev, c1, false, true, 0.25f, 0.f);
  ops::gemm(a.dev, b.dev, c2, false, true, 0.25f, 0.f);
  EXPECT_EQ(bytes_of(c1), bytes_of(c2));
}

// The initcheck probe (docs/reliability.md): the output starts uninitialised (no fill, no
// poison), the GEMM writes it with beta 0, and the copy back must equal the CPU op. Run under
// compute-sanitizer initcheck, a report here on the copy's source is about cuBLASLt's stores
// (the values prove every element was written), not about our code.
TEST(OpsCuda, GemmOutputIsWrittenWithoutAFill) {
  VPMOE_REQUIRE_CUDA();
  const Mnk sizes[] = {{64, 64, 32}, {256, 1024, 1024}, {2048, 128, 1024}};
  for (DType dt : {DType::f32, DType::bf16})
    for (Mnk s : sizes) {
      Pair a = random_pair({s.m, s.k}, dt), b = random_pair({s.n, s.k}, dt);
      Tensor c = Tensor::empty({s.m, s.n}, dt, gpu());
      Tensor ref = Tensor::zeros({s.m, s.n}, DType::f32, cpu());
      ops::gemm(a.dev, b.dev, c, false, true);
      ops::gemm(a.cpu, b.cpu, ref, false, true);
      EXPECT_LT(rel_err(c, ref), tol(dt)) << s.m << "x" << s.n << "x" << s.k << " " << dt_str(dt);
    }
}

TEST(OpsCuda, GemmEmptyK) {
  VPMOE_REQUIRE_CUDA();
  for (float beta : {0.f, 2.f}) {
    Pair a = random_pair({5, 0}, DType::f32), b = random_pair({0, 7}, DType::f32);
    Pair c = make_c({5, 7}, DType::f32, beta);
    ops::gemm(a.dev, b.dev, c.dev, false, false, 1.f, beta);
    ops::gemm(a.cpu, b.cpu, c.cpu, false, false, 1.f, beta);
    EXPECT_LT(rel_err(c.dev, c.cpu), kTolF32) << "beta " << beta;
  }
}

// Uneven row groups with empty ones, and equal groups (the strided-batched path).
const std::vector<std::vector<std::int64_t>> kGroups = {
    {0, 5, 17, 0, 1, 64, 3, 33}, {16, 16, 16, 16}, {0, 0, 7}, {40}};

const ops::cuda::GroupedImpl kImpls[] = {
    ops::cuda::GroupedImpl::automatic, ops::cuda::GroupedImpl::lt_loop,
    ops::cuda::GroupedImpl::cublas_grouped, ops::cuda::GroupedImpl::wgrad_kernel};

struct ImplReset {
  ~ImplReset() { ops::cuda::set_grouped_impl(ops::cuda::GroupedImpl::automatic); }
};

TEST(OpsCuda, GemmGrouped) {
  VPMOE_REQUIRE_CUDA();
  ImplReset reset;
  const std::int64_t K = 48, N = 40;
  for (auto impl : kImpls) {
    ops::cuda::set_grouped_impl(impl);
    for (const auto& rows : kGroups)
      for (DType dt : {DType::f32, DType::bf16})
        for (DType ct : c_dtypes(dt))
          for (bool tb : {false, true})
            for (AlphaBeta ab : kAlphaBeta) {
              std::int64_t G = std::int64_t(rows.size());
              std::int64_t M = std::accumulate(rows.begin(), rows.end(), std::int64_t(0));
              Pair a = random_pair({M, K}, dt);
              Pair b = random_pair(tb ? Shape{G, N, K} : Shape{G, K, N}, dt);
              Pair c = make_c({M, N}, ct, ab.beta);
              ops::gemm_grouped(a.dev, b.dev, c.dev, rows, tb, ab.alpha, ab.beta);
              ops::gemm_grouped(a.cpu, b.cpu, c.cpu, rows, tb, ab.alpha, ab.beta);
              EXPECT_LT(rel_err(c.dev, c.cpu), tol(dt))
                  << "impl " << int(impl) << " G " << G << " M " << M << " tb " << tb << " ab "
                  << dt_str(dt) << " c " << dt_str(ct) << " beta " << ab.beta;
            }
  }
}

TEST(OpsCuda, GemmGroupedWgrad) {
  VPMOE_REQUIRE_CUDA();
  ImplReset reset;
  const std::int64_t K = 24, N = 56;
  for (auto impl : kImpls) {
    ops::cuda::set_grouped_impl(impl);
    for (const auto& rows : kGroups)
      for (DType dt : {DType::f32, DType::bf16})
        for (DType ct : c_dtypes(dt))
          for (AlphaBeta ab : kAlphaBeta) {
            std::int64_t G = std::int64_t(rows.size());
            std::int64_t M = std::accumulate(rows.begin(), rows.end(), std::int64_t(0));
            Pair a = random_pair({M, K}, dt), b = random_pair({M, N}, dt);
            Pair c = make_c({G, K, N}, ct, ab.beta);
            ops::gemm_grouped_wgrad(a.dev, b.dev, c.dev, rows, ab.alpha, ab.beta);
            ops::gemm_grouped_wgrad(a.cpu, b.cpu, c.cpu, rows, ab.alpha, ab.beta);
            EXPECT_LT(rel_err(c.dev, c.cpu), tol(dt))
                << "impl " << int(impl) << " G " << G << " M " << M << " ab " << dt_str(dt) << " c "
                << dt_str(ct) << " beta " << ab.beta;
          }
  }
}

// The MoE expert shape at a realistic size, bf16 in and out.
TEST(OpsCuda, GemmGroupedExpertShape) {
  VPMOE_REQUIRE_CUDA();
  const std::int64_t G = 64, K = 1024, N = 128;
  std::vector<std::int64_t> rows(G);
  std::uniform_int_distribution<int> d(0, 256);
  for (auto& r : rows) r = d(rng());
  rows[3] = 0;
  std::int64_t M = std::accumulate(rows.begin(), rows.end(), std::int64_t(0));
  Pair a = random_pair({M, K}, DType::bf16), b = random_pair({G, K, N}, DType::bf16);
  Pair c = make_c({M, N}, DType::bf16, 0.f);
  ops::gemm_grouped(a.dev, b.dev, c.dev, rows, false, 1.f, 0.f);
  ops::gemm_grouped(a.cpu, b.cpu, c.cpu, rows, false, 1.f, 0.f);
  EXPECT_LT(rel_err(c.dev, c.cpu), kTolBf16);
}

// The experts' weight gradients at that size: bf16 rows into the f32 main grad (beta 1), both
// orientations (dW1: [F, H] per expert from [M, F] x [M, H]; dW2: [H, F]); repeatable bits.
TEST(OpsCuda, GemmGroupedWgradExpertShape) {
  VPMOE_REQUIRE_CUDA();
  const std::int64_t G = 64, H = 1024, F = 128;
  std::vector<std::int64_t> rows(G);
  std::uniform_int_distribution<int> d(0, 300);
  for (auto& r : rows) r = d(rng());
  rows[5] = 0;
  std::int64_t M = std::accumulate(rows.begin(), rows.end(), std::int64_t(0));
  for (auto [K, N] : {std::pair{F, H}, std::pair{H, F}}) {
    Pair a = random_pair({M, K}, DType::bf16), b = random_pair({M, N}, DType::bf16);
    Pair c = make_c({G, K, N}, DType::f32, 1.f);
    const Tensor c0 = c.dev.clone();
    ops::gemm_grouped_wgrad(a.dev, b.dev, c.dev, rows, 1.f, 1.f);
    ops::gemm_grouped_wgrad(a.cpu, b.cpu, c.cpu, rows, 1.f, 1.f);
    EXPECT_LT(rel_err(c.dev, c.cpu), kTolF32 * 10) << "K " << K << " N " << N;
    Tensor again = c0.clone();
    ops::gemm_grouped_wgrad(a.dev, b.dev, again, rows, 1.f, 1.f);
    EXPECT_EQ(bytes_of(again), bytes_of(c.dev)) << "repeatable, K " << K;
  }
}

// Skewed routing: one expert with thousands of rows runs as several row chunks whose partial
// sums are added in a fixed order; alpha scales every chunk, beta the old c once.
TEST(OpsCuda, GemmGroupedWgradSkewedGroups) {
  VPMOE_REQUIRE_CUDA();
  const std::int64_t H = 256, F = 128;
  const std::vector<std::int64_t> rows{3, 2100, 0, 513, 512, 40, 1025, 7};
  const std::int64_t G = std::int64_t(rows.size());
  const std::int64_t M = std::accumulate(rows.begin(), rows.end(), std::int64_t(0));
  for (AlphaBeta ab : {AlphaBeta{1.f, 0.f}, AlphaBeta{0.5f, 1.f}, AlphaBeta{2.f, 0.25f}}) {
    Pair a = random_pair({M, F}, DType::bf16), b = random_pair({M, H}, DType::bf16);
    Pair c = make_c({G, F, H}, DType::f32, ab.beta);
    const Tensor c0 = c.dev.clone();
    ops::gemm_grouped_wgrad(a.dev, b.dev, c.dev, rows, ab.alpha, ab.beta);
    ops::gemm_grouped_wgrad(a.cpu, b.cpu, c.cpu, rows, ab.alpha, ab.beta);
    EXPECT_LT(rel_err(c.dev, c.cpu), kTolF32 * 10) << "alpha " << ab.alpha << " beta " << ab.beta;
    Tensor again = c0.clone();
    ops::gemm_grouped_wgrad(a.dev, b.dev, again, rows, ab.alpha, ab.beta);
    EXPECT_EQ(bytes_of(again), bytes_of(c.dev)) << "repeatable, beta " << ab.beta;
  }
}

}  // namespace
}  // namespace vpmoe::testing
