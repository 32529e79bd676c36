#pragma once
// cuBLAS and cuBLASLt, opened on first use: linked directly, their ~700 MB made every
// vpmoe-host command (--help, tokenize) spend ~0.4 s starting up, GPU or not. Call sites write
// lazy::cublasX(...) for the cuBLAS function cublasX; the first call dlopens the library of
// the toolkit the build used (libcublas.so.<major>, libcublasLt.so.<major>) and looks the
// symbol up, with the header's own type (decltype: nothing is linked).
#include <cublasLt.h>
#include <cublas_v2.h>

#include <utility>

namespace vpmoe::cuda_impl::lazy {

enum class Lib { cublas, cublaslt };
// The symbol's address in the library, loaded once; throws naming the library or the symbol.
void* symbol(Lib lib, const char* name);

#define VPMOE_LAZY_STR2(x) #x
#define VPMOE_LAZY_STR(x) VPMOE_LAZY_STR2(x)
#define VPMOE_LAZY(lib, fn)                                                                   \
  template <class... A>                                                                       \
  auto fn(A&&... a) {                                                                         \
    static const auto f = reinterpret_cast<decltype(&::fn)>(symbol(lib, VPMOE_LAZY_STR(fn))); \
    return f(std::forward<A>(a)...);                                                          \
  }

VPMOE_LAZY(Lib::cublas, cublasCreate)
VPMOE_LAZY(Lib::cublas, cublasSetMathMode)
VPMOE_LAZY(Lib::cublas, cublasSetStream)
VPMOE_LAZY(Lib::cublas, cublasSetWorkspace)
VPMOE_LAZY(Lib::cublas, cublasGetStatusString)
VPMOE_LAZY(Lib::cublas, cublasGemmGroupedBatchedEx)
VPMOE_LAZY(Lib::cublaslt, cublasLtCreate)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatmul)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatmulAlgoGetHeuristic)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatmulDescCreate)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatmulDescDestroy)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatmulDescSetAttribute)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatmulPreferenceCreate)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatmulPreferenceDestroy)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatmulPreferenceSetAttribute)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatrixLayoutCreate)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatrixLayoutDestroy)
VPMOE_LAZY(Lib::cublaslt, cublasLtMatrixLayoutSetAttribute)

#undef VPMOE_LAZY

}  // namespace vpmoe::cuda_impl::lazy
