// cuBLAS / cuBLASLt handles, per-stream workspaces and the cached cuBLASLt matmul.
#include "ops/cuda/blas.h"
#include "ops/cuda/cublas_lazy.h"
#include "ops/cuda/sanitizer_marks.h"

#include "device/host_profile.h"

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace vpmoe::cuda_impl {

void throw_cublas(int status, const char* what, const char* file, int line) {
  throw Error(std::string("cuBLAS error ") +
              lazy::cublasGetStatusString(static_cast<cublasStatus_t>(status)) + " (" +
              std::to_string(status) + ") in " + what + " at " + file + ":" + std::to_string(line));
}

namespace {

constexpr std::size_t kWorkspaceBytes = 32u << 20;  // what cuBLAS asks for on Hopper

std::mutex g_mu;
std::map<int, cublasLtHandle_t> g_lt;
std::map<std::pair<int, cudaStream_t>, Workspace> g_ws;

}  // namespace

cublasLtHandle_t lt_handle(int device) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_lt.find(device);
  if (it != g_lt.end()) return it->second;
  DeviceGuard g(device);
  cublasLtHandle_t h;
  VPMOE_CUBLAS_CHECK(lazy::cublasLtCreate(&h));
  g_lt[device] = h;
  return h;
}

Workspace workspace(int device, cudaStream_t s) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto key = std::make_pair(device, s);
  auto it = g_ws.find(key);
  if (it != g_ws.end()) return it->second;
  DeviceGuard g(device);
  Workspace w;
  VPMOE_CUDA_CHECK(cudaMalloc(&w.ptr, kWorkspaceBytes));
  w.bytes = kWorkspaceBytes;
  g_ws[key] = w;
  return w;
}

cublasHandle_t blas_handle(int device, cudaStream_t s) {
  thread_local std::map<int, cublasHandle_t> handles;
  cublasHandle_t& h = handles[device];
  if (!h) {
    DeviceGuard g(device);
    VPMOE_CUBLAS_CHECK(lazy::cublasCreate(&h));
    VPMOE_CUBLAS_CHECK(lazy::cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));  // no TF32
  }
  Workspace w = workspace(device, s);
  VPMOE_CUBLAS_CHECK(lazy::cublasSetStream(h, s));  // resets the workspace: set it after
  VPMOE_CUBLAS_CHECK(lazy::cublasSetWorkspace(h, w.ptr, w.bytes));
  return h;
}

cudaDataType_t cuda_dtype(DType d) {
  switch (d) {
    case DType::f32:
      return CUDA_R_32F;
    case DType::bf16:
      return CUDA_R_16BF;
    default:
      throw Error("gemm: dtype must be f32 or bf16, got " + std::string(dtype_name(d)));
  }
}

namespace {

std::size_t dtype_bytes(cudaDataType_t t) {
  return t == CUDA_R_32F ? 4 : 2;
}

// Largest power of two (at most 256) dividing the address and the batch stride in bytes.
std::int64_t alignment(const void* p, std::int64_t stride_bytes) {
  std::uint64_t v = reinterpret_cast<std::uintptr_t>(p) | 256u;
  if (stride_bytes) v |= std::uint64_t(stride_bytes);
  return std::int64_t(v & (~v + 1));
}

// A matmul description, its layouts and the heuristic's first algorithm for one problem.
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool ok = false;
  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (lc) lazy::cublasLtMatrixLayoutDestroy(lc);
    if (lb) lazy::cublasLtMatrixLayoutDestroy(lb);
    if (la) lazy::cublasLtMatrixLayoutDestroy(la);
    if (op) lazy::cublasLtMatmulDescDestroy(op);
  }
};

using Key = std::array<std::int64_t, 19>;
struct KeyHash {
  std::size_t operator()(const Key& k) const {
    std::size_t h = 1469598103934665603ull;
    for (std::int64_t v : k) h = (h ^ std::size_t(v)) * 1099511628211ull;
    return h;
  }
};

constexpr std::size_t kMaxPlans = 4096;
std::mutex g_plan_mu;
std::unordered_map<Key, std::unique_ptr<Plan>, KeyHash> g_plans;

cublasLtMatrixLayout_t make_layout(cudaDataType_t t, std::int64_t rows, std::int64_t cols,
                                   std::int64_t ld, std::int64_t batch, std::int64_t stride) {
  cublasLtMatrixLayout_t l;
  VPMOE_CUBLAS_CHECK(
      lazy::cublasLtMatrixLayoutCreate(&l, t, std::uint64_t(rows), std::uint64_t(cols), ld));
  if (batch > 1) {
    std::int32_t b = std::int32_t(batch);
    VPMOE_CUBLAS_CHECK(lazy::cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                              &b, sizeof b));
    VPMOE_CUBLAS_CHECK(lazy::cublasLtMatrixLayoutSetAttribute(
        l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  }
  return l;
}

std::unique_ptr<Plan> make_plan(int device, const LtProblem& p, std::int64_t al_a,
                                std::int64_t al_b, std::int64_t al_c) {
  auto plan = std::make_unique<Plan>();
  VPMOE_CUBLAS_CHECK(lazy::cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t ta = p.ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = p.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  VPMOE_CUBLAS_CHECK(
      lazy::cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  VPMOE_CUBLAS_CHECK(
      lazy::cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  plan->la = make_layout(p.ab, p.ta ? p.k : p.m, p.ta ? p.m : p.k, p.lda, p.batch, p.stride_a);
  plan->lb = make_layout(p.ab, p.tb ? p.n : p.k, p.tb ? p.k : p.n, p.ldb, p.batch, p.stride_b);
  plan->lc = make_layout(p.c, p.m, p.n, p.ldc, p.batch, p.stride_c);

  cublasLtMatmulPreference_t pref;
  VPMOE_CUBLAS_CHECK(lazy::cublasLtMatmulPreferenceCreate(&pref));
  std::uint64_t ws = kWorkspaceBytes;
  std::uint32_t a32 = std::uint32_t(al_a), b32 = std::uint32_t(al_b), c32 = std::uint32_t(al_c);
  lazy::cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                             sizeof ws);
  lazy::cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &a32,
                                             sizeof a32);
  lazy::cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &b32,
                                             sizeof b32);
  lazy::cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &c32,
                                             sizeof c32);
  lazy::cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &c32,
                                             sizeof c32);
  cublasLtMatmulHeuristicResult_t res{};
  int found = 0;
  cublasStatus_t st = lazy::cublasLtMatmulAlgoGetHeuristic(
      lt_handle(device), plan->op, plan->la, plan->lb, plan->lc, plan->lc, pref, 1, &res, &found);
  lazy::cublasLtMatmulPreferenceDestroy(pref);
  if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
    plan->algo = res.algo;
    plan->ok = true;
  } else if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED) {
    throw_cublas(int(st), "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__);
  }
  return plan;
}

}  // namespace

bool lt_matmul(int device, cudaStream_t s, const LtProblem& p, const void* A, const void* B,
               void* C, float alpha, float beta) {
  std::int64_t eab = std::int64_t(dtype_bytes(p.ab)), ec = std::int64_t(dtype_bytes(p.c));
  std::int64_t al_a = alignment(A, p.batch > 1 ? p.stride_a * eab : 0);
  std::int64_t al_b = alignment(B, p.batch > 1 ? p.stride_b * eab : 0);
  std::int64_t al_c = alignment(C, p.batch > 1 ? p.stride_c * ec : 0);
  Key key{device, p.ab,    p.c,        p.ta,       p.tb,       p.m,  p.n,  p.k,  p.lda, p.ldb,
          p.ldc,  p.batch, p.stride_a, p.stride_b, p.stride_c, al_a, al_b, al_c, 0};
  Plan* plan = nullptr;
  std::unique_ptr<Plan> temp;
  {
    std::lock_guard<std::mutex> lock(g_plan_mu);
    auto it = g_plans.find(key);
    if (it != g_plans.end()) plan = it->second.get();
  }
  if (!plan) {
    VPMOE_HOST_SCOPE("cublasLt plan (heuristic on a cache miss)");
    auto made = make_plan(device, p, al_a, al_b, al_c);
    std::lock_guard<std::mutex> lock(g_plan_mu);
    auto it = g_plans.find(key);
    if (it != g_plans.end()) {
      plan = it->second.get();
    } else if (g_plans.size() < kMaxPlans) {
      plan = made.get();
      g_plans.emplace(key, std::move(made));
    } else {
      temp = std::move(made);  // cache full: use once (entries are never evicted while in use)
      plan = temp.get();
    }
  }
  if (!plan->ok) return false;
  Workspace w = workspace(device, s);
  VPMOE_HOST_SCOPE("cublasLtMatmul call");
  VPMOE_CUBLAS_CHECK(lazy::cublasLtMatmul(lt_handle(device), plan->op, &alpha, A, plan->la, B,
                                          plan->lb, &beta, C, plan->lc, C, plan->lc, &plan->algo,
                                          w.ptr, w.bytes, s));
  mark_initialized(s, C, p.m, p.n, p.ldc, p.batch, p.stride_c, ec);
  return true;
}

void gemm_rowmajor(int device, cudaStream_t s, DType ab, DType c, bool ta, bool tb, std::int64_t M,
                   std::int64_t N, std::int64_t K, const void* a, const void* b, void* cp,
                   float alpha, float beta, std::int64_t batch, std::int64_t stride_a,
                   std::int64_t stride_b, std::int64_t stride_c) {
  // Row-major C = op(a) op(b) is column-major C^T = op(b)^T op(a)^T: b goes in slot A.
  LtProblem p;
  p.ab = cuda_dtype(ab);
  p.c = cuda_dtype(c);
  p.ta = tb;
  p.tb = ta;
  p.m = N;
  p.n = M;
  p.k = K;
  p.lda = tb ? K : N;
  p.ldb = ta ? M : K;
  p.ldc = N;
  p.batch = batch;
  p.stride_a = stride_b;
  p.stride_b = stride_a;
  p.stride_c = stride_c;
  if (lt_matmul(device, s, p, b, a, cp, alpha, beta)) return;
  VPMOE_CHECK(batch > 1, "gemm: cuBLASLt has no algorithm for this problem");
  // cuBLASLt may refuse a broadcast (stride 0) batch: one call per batch entry instead.
  LtProblem one = p;
  one.batch = 1;
  one.stride_a = one.stride_b = one.stride_c = 0;
  std::size_t eab = dtype_size(ab), ec = dtype_size(c);
  for (std::int64_t i = 0; i < batch; ++i) {
    bool ok = lt_matmul(device, s, one, static_cast<const char*>(b) + i * stride_b * eab,
                        static_cast<const char*>(a) + i * stride_a * eab,
                        static_cast<char*>(cp) + i * stride_c * ec, alpha, beta);
    VPMOE_CHECK(ok, "gemm: cuBLASLt has no algorithm for this problem");
  }
}

}  // namespace vpmoe::cuda_impl
