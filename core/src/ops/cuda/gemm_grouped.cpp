// Grouped GEMMs for the MoE experts (consecutive row groups, one weight per group).
// cuBLASLt in CUDA 13.0 has no grouped matmul; the groups run as one strided-batched
// cuBLASLt call when all row counts are equal, else as one cublasGemmGroupedBatchedEx call
// (group_size 1 per group) or a loop of cuBLASLt calls (see GroupedImpl).
#include <atomic>
#include <numeric>
#include <string>
#include <vector>

#include "device/host_profile.h"
#include "ops/cuda/blas.h"
#include "ops/cuda/cublas_lazy.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/gemm_internal.h"
#include "ops/cuda/gemm_wgrad_kernel.h"
#include "ops/cuda/sanitizer_marks.h"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {
namespace {

std::atomic<int> g_impl{int(GroupedImpl::automatic)};
// Set once cublasGemmGroupedBatchedEx refuses a dtype pair (c f32 with bf16 inputs, say).
std::atomic<bool> g_grouped_refused[2][2];
std::atomic<bool> g_fast_bf16_refused{false};

// cublasGemmGroupedBatchedEx has no bf16-in / f32-out mode: such calls run on f32 copies of
// the inputs (exact) with CUBLAS_COMPUTE_32F_FAST_16BF. cuBLAS 13.0 runs these as a SIMT
// grouped sgemm (~360 us per locked expert wgrad on an H200); FAST_TF32 was tried and is
// worse (one tensor-core kernel per group, ~2 ms). A grouped wgrad kernel is the next step.
struct GroupedInputs {
  Tensor a32, b32;
  const Tensor *a, *b;
  DType dtype;
  bool widened = false;
  GroupedInputs(const Tensor& ai, const Tensor& bi, DType c) : a(&ai), b(&bi), dtype(ai.dtype()) {
    if (ai.dtype() != DType::bf16 || c != DType::f32) return;
    a32 = Tensor::empty(ai.shape(), DType::f32, ai.device());
    b32 = Tensor::empty(bi.shape(), DType::f32, bi.device());
    cast(ai, a32);
    cast(bi, b32);
    a = &a32;
    b = &b32;
    dtype = DType::f32;
    widened = true;
  }
};

// The default for uneven groups: bench_gemm on an H100 ran the 256-expert forward at
// ~124 TFLOP/s this way against ~4 TFLOP/s for the cuBLASLt loop.
constexpr GroupedImpl kUnevenDefault = GroupedImpl::cublas_grouped;

int dt_index(DType d) {
  return d == DType::bf16 ? 1 : 0;
}

// One grouped call: entry i is the column-major problem D_i = alpha op(A_i) op(B_i) + beta C_i.
struct GroupedCall {
  std::vector<cublasOperation_t> ta, tb;
  std::vector<int> m, n, k, lda, ldb, ldc, size;
  std::vector<float> alpha, beta;
  std::vector<const void*> A, B;
  std::vector<void*> C;
  void add(bool tra, bool trb, std::int64_t mm, std::int64_t nn, std::int64_t kk, std::int64_t la,
           std::int64_t lb, std::int64_t lc, const void* a, const void* b, void* c, float al,
           float be) {
    ta.push_back(tra ? CUBLAS_OP_T : CUBLAS_OP_N);
    tb.push_back(trb ? CUBLAS_OP_T : CUBLAS_OP_N);
    m.push_back(int(mm));
    n.push_back(int(nn));
    k.push_back(int(kk));
    lda.push_back(int(la));
    ldb.push_back(int(lb));
    ldc.push_back(int(lc));
    size.push_back(1);
    alpha.push_back(al);
    beta.push_back(be);
    A.push_back(a);
    B.push_back(b);
    C.push_back(c);
  }
};

// Returns false when cuBLAS refuses the dtypes (nothing was run). fast_bf16: f32 inputs that
// hold bf16 values, run with CUBLAS_COMPUTE_32F_FAST_16BF (the down-conversion is exact,
// accumulation stays fp32).
bool run_grouped(const Tensor& like, DType ab, DType cdt, const GroupedCall& g,
                 bool fast_bf16 = false) {
  if (g.m.empty()) return true;
  if (fast_bf16 && g_fast_bf16_refused.load()) fast_bf16 = false;
  if (g_grouped_refused[dt_index(ab)][dt_index(cdt)].load()) return false;
  Device dev = like.device();
  cudaStream_t s = cuda_impl::stream(dev.index);
  std::size_t n = g.m.size();
  // Pointer arrays must be in device memory: one upload, ordered on the stream.
  std::vector<const void*> host(3 * n);
  for (std::size_t i = 0; i < n; ++i) {
    host[i] = g.A[i];
    host[n + i] = g.B[i];
    host[2 * n + i] = g.C[i];
  }
  void** dptr = static_cast<void**>(device_alloc(dev, sizeof(void*) * 3 * n));
  device_copy(dptr, dev, host.data(), Device::cpu(), sizeof(void*) * 3 * n);
  cublasHandle_t h = cuda_impl::blas_handle(dev.index, s);
  VPMOE_HOST_SCOPE("cublasGemmGroupedBatchedEx call");
  cublasStatus_t st = cuda_impl::lazy::cublasGemmGroupedBatchedEx(
      h, g.ta.data(), g.tb.data(), g.m.data(), g.n.data(), g.k.data(), g.alpha.data(),
      reinterpret_cast<const void* const*>(dptr), cuda_impl::cuda_dtype(ab), g.lda.data(),
      reinterpret_cast<const void* const*>(dptr + n), cuda_impl::cuda_dtype(ab), g.ldb.data(),
      g.beta.data(), dptr + 2 * n, cuda_impl::cuda_dtype(cdt), g.ldc.data(), int(n), g.size.data(),
      fast_bf16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F);
  device_free(dev, dptr);
  if (fast_bf16 && (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE)) {
    g_fast_bf16_refused = true;
    return run_grouped(like, ab, cdt, g, false);
  }
  if (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE) {
    g_grouped_refused[dt_index(ab)][dt_index(cdt)] = true;
    return false;
  }
  VPMOE_CUBLAS_CHECK(st);
  for (std::size_t i = 0; i < n; ++i)
    cuda_impl::mark_initialized(s, g.C[i], g.m[i], g.n[i], g.ldc[i], 1, 0,
                                std::int64_t(dtype_size(cdt)));
  return true;
}

bool uniform_rows(std::span<const std::int64_t> rows, std::int64_t& r) {
  if (rows.empty() || rows[0] <= 0) return false;
  r = rows[0];
  for (std::int64_t v : rows)
    if (v != r) return false;
  return true;
}

std::int64_t checked_total(std::span<const std::int64_t> rows, const char* op) {
  std::int64_t total = 0;
  for (std::int64_t v : rows) {
    VPMOE_CHECK(v >= 0, std::string(op) + ": negative row count");
    total += v;
  }
  return total;
}

}  // namespace

void set_grouped_impl(GroupedImpl impl) {
  g_impl = int(impl);
}
GroupedImpl grouped_impl() {
  return GroupedImpl(g_impl.load());
}

void gemm_grouped(const Tensor& a, const Tensor& b, Tensor& c, std::span<const std::int64_t> rows,
                  bool trans_b, float alpha, float beta) {
  VPMOE_CHECK(a.device().is_cuda(), "gemm_grouped: expected CUDA tensors");
  VPMOE_CHECK(a.ndim() == 2 && b.ndim() == 3 && c.ndim() == 2,
              "gemm_grouped: a [M,K], b [G,K,N] and c [M,N] expected");
  VPMOE_CHECK(a.dtype() == b.dtype(), "gemm_grouped: a and b dtypes differ");
  VPMOE_CHECK(c.dtype() == DType::f32 || c.dtype() == a.dtype(),
              "gemm_grouped: c must be f32 or the dtype of a");
  std::int64_t M = a.size(0), K = a.size(1), G = b.size(0);
  std::int64_t N = trans_b ? b.size(1) : b.size(2);
  VPMOE_CHECK((trans_b ? b.size(2) : b.size(1)) == K, "gemm_grouped: inner dims differ");
  check_shape(c, {M, N}, "gemm_grouped: c");
  VPMOE_CHECK(std::int64_t(rows.size()) == G, "gemm_grouped: one row count per group");
  VPMOE_CHECK(checked_total(rows, "gemm_grouped") == M, "gemm_grouped: row counts must sum to M");
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_or_clear(c, beta);

  int dev = c.device().index;
  cuda_impl::DeviceGuard guard(dev);
  cudaStream_t s = cuda_impl::stream(dev);
  std::size_t eab = dtype_size(a.dtype()), ec = dtype_size(c.dtype());
  auto A = [&](std::int64_t off) { return static_cast<const char*>(a.data()) + off * K * eab; };
  auto B = [&](std::int64_t g) { return static_cast<const char*>(b.data()) + g * K * N * eab; };
  auto C = [&](std::int64_t off) { return static_cast<char*>(c.data()) + off * N * ec; };

  GroupedImpl impl = grouped_impl();
  std::int64_t r = 0;
  if (impl == GroupedImpl::automatic && uniform_rows(rows, r)) {
    cuda_impl::gemm_rowmajor(dev, s, a.dtype(), c.dtype(), false, trans_b, r, N, K, a.data(),
                             b.data(), c.data(), alpha, beta, G, r * K, K * N, r * N);
    return;
  }
  if (impl == GroupedImpl::automatic || impl == GroupedImpl::wgrad_kernel) impl = kUnevenDefault;
  if (impl == GroupedImpl::cublas_grouped) {
    // Column-major per group: C_g^T [N, r] = op(b_g)^T [N, K] @ a_g^T [K, r].
    GroupedInputs in(a, b, c.dtype());
    std::size_t e = dtype_size(in.dtype);
    auto* pa = static_cast<const char*>(in.a->data());
    auto* pb = static_cast<const char*>(in.b->data());
    GroupedCall call;
    std::int64_t off = 0;
    for (std::int64_t g = 0; g < G; ++g) {
      if (rows[g] > 0)
        call.add(trans_b, false, N, rows[g], K, trans_b ? K : N, K, N, pb + g * K * N * e,
                 pa + off * K * e, C(off), alpha, beta);
      off += rows[g];
    }
    if (run_grouped(c, in.dtype, c.dtype(), call, in.widened)) return;
  }
  std::int64_t off = 0;
  for (std::int64_t g = 0; g < G; ++g) {
    if (rows[g] > 0)
      cuda_impl::gemm_rowmajor(dev, s, a.dtype(), c.dtype(), false, trans_b, rows[g], N, K, A(off),
                               B(g), C(off), alpha, beta);
    off += rows[g];
  }
}

void gemm_grouped_wgrad(const Tensor& a, const Tensor& b, Tensor& c,
                        std::span<const std::int64_t> rows, float alpha, float beta) {
  VPMOE_CHECK(a.device().is_cuda(), "gemm_grouped_wgrad: expected CUDA tensors");
  VPMOE_CHECK(a.ndim() == 2 && b.ndim() == 2 && c.ndim() == 3,
              "gemm_grouped_wgrad: a [M,K], b [M,N] and c [G,K,N] expected");
  VPMOE_CHECK(a.dtype() == b.dtype(), "gemm_grouped_wgrad: a and b dtypes differ");
  VPMOE_CHECK(c.dtype() == DType::f32 || c.dtype() == a.dtype(),
              "gemm_grouped_wgrad: c must be f32 or the dtype of a");
  std::int64_t M = a.size(0), K = a.size(1), N = b.size(1), G = c.size(0);
  VPMOE_CHECK(b.size(0) == M, "gemm_grouped_wgrad: a and b row counts differ");
  check_shape(c, {G, K, N}, "gemm_grouped_wgrad: c");
  VPMOE_CHECK(std::int64_t(rows.size()) == G, "gemm_grouped_wgrad: one row count per group");
  VPMOE_CHECK(checked_total(rows, "gemm_grouped_wgrad") == M,
              "gemm_grouped_wgrad: row counts must sum to M");
  if (c.numel() == 0) return;

  int dev = c.device().index;
  cuda_impl::DeviceGuard guard(dev);
  cudaStream_t s = cuda_impl::stream(dev);
  std::size_t eab = dtype_size(a.dtype()), ec = dtype_size(c.dtype());
  auto A = [&](std::int64_t off) { return static_cast<const char*>(a.data()) + off * K * eab; };
  auto B = [&](std::int64_t off) { return static_cast<const char*>(b.data()) + off * N * eab; };
  auto C = [&](std::int64_t g) { return static_cast<char*>(c.data()) + g * K * N * ec; };

  GroupedImpl impl = grouped_impl();
  std::int64_t r = 0;
  if (impl == GroupedImpl::automatic && uniform_rows(rows, r)) {
    cuda_impl::gemm_rowmajor(dev, s, a.dtype(), c.dtype(), true, false, K, N, r, a.data(), b.data(),
                             c.data(), alpha, beta, G, r * K, r * N, K * N);
    return;
  }
  if ((impl == GroupedImpl::automatic || impl == GroupedImpl::wgrad_kernel) &&
      a.dtype() == DType::bf16 && c.dtype() == DType::f32)
    return grouped_wgrad_bf16_f32(a, b, c, rows, alpha, beta);
  // Empty groups: c[g] = beta * c[g].
  for (std::int64_t g = 0; g < G; ++g) {
    if (rows[g] == 0) {
      Tensor cg = c.select(g);
      scale_or_clear(cg, beta);
    }
  }
  if (impl == GroupedImpl::automatic || impl == GroupedImpl::wgrad_kernel) impl = kUnevenDefault;
  if (impl == GroupedImpl::cublas_grouped) {
    // Column-major per group: C_g^T [N, K] = b_g^T [N, r] @ a_g [r, K].
    GroupedInputs in(a, b, c.dtype());
    std::size_t e = dtype_size(in.dtype);
    auto* pa = static_cast<const char*>(in.a->data());
    auto* pb = static_cast<const char*>(in.b->data());
    GroupedCall call;
    std::int64_t off = 0;
    for (std::int64_t g = 0; g < G; ++g) {
      if (rows[g] > 0)
        call.add(false, true, N, K, rows[g], N, K, N, pb + off * N * e, pa + off * K * e, C(g),
                 alpha, beta);
      off += rows[g];
    }
    if (run_grouped(c, in.dtype, c.dtype(), call, in.widened)) return;
  }
  std::int64_t off = 0;
  for (std::int64_t g = 0; g < G; ++g) {
    if (rows[g] > 0)
      cuda_impl::gemm_rowmajor(dev, s, a.dtype(), c.dtype(), true, false, K, N, rows[g], A(off),
                               B(off), C(g), alpha, beta);
    off += rows[g];
  }
}

}  // namespace vpmoe::ops::cuda
