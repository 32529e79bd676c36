#pragma once
// cuBLAS / cuBLASLt handles and workspaces for the ops (not part of the SDK), and the
// column-major matmul that gemm and the grouped GEMMs are built on.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "device/cuda/cuda_util.h"
#include "vpmoe/dtype.h"

namespace vpmoe::cuda_impl {

[[noreturn]] void throw_cublas(int status, const char* what, const char* file, int line);

// Lazily created per device (cuBLASLt) or per device and thread (cuBLAS, whose handle holds a
// stream); never destroyed (a handle torn down after the driver at exit crashes).
cublasLtHandle_t lt_handle(int device);
// A cuBLAS handle bound to stream s with this stream's workspace.
cublasHandle_t blas_handle(int device, cudaStream_t s);
// Workspace for work ordered on stream s (one per device and stream, so concurrent streams
// never share one).
struct Workspace {
  void* ptr = nullptr;
  std::size_t bytes = 0;
};
Workspace workspace(int device, cudaStream_t s);

cudaDataType_t cuda_dtype(DType d);

// D = alpha * op(A) @ op(B) + beta * C, column-major, m x n result, C and D the same buffer.
// Batched when batch > 1 (strides in elements; 0 broadcasts A or B). fp32 accumulation.
struct LtProblem {
  cudaDataType_t ab = CUDA_R_16BF, c = CUDA_R_32F;
  bool ta = false, tb = false;
  std::int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  std::int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
};
// Returns false (doing nothing) when cuBLASLt has no algorithm for the problem.
bool lt_matmul(int device, cudaStream_t s, const LtProblem& p, const void* A, const void* B,
               void* C, float alpha, float beta);

// Row-major c[M,N] = alpha * op(a) @ op(b) + beta * c (a [M,K] or [K,M] with ta; b [K,N] or
// [N,K] with tb), strided-batched over `batch`; falls back to one call per batch when
// cuBLASLt refuses a broadcast stride. Throws when no algorithm exists.
void gemm_rowmajor(int device, cudaStream_t s, DType ab, DType c, bool ta, bool tb, std::int64_t M,
                   std::int64_t N, std::int64_t K, const void* a, const void* b, void* cp,
                   float alpha, float beta, std::int64_t batch = 1, std::int64_t stride_a = 0,
                   std::int64_t stride_b = 0, std::int64_t stride_c = 0);

}  // namespace vpmoe::cuda_impl

#define VPMOE_CUBLAS_CHECK(call)                                            \
  do {                                                                      \
    cublasStatus_t s_ = (call);                                             \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                        \
      ::vpmoe::cuda_impl::throw_cublas(int(s_), #call, __FILE__, __LINE__); \
  } while (0)
