#include "ops/cuda/cublas_lazy.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "vpmoe/error.h"

namespace vpmoe::cuda_impl::lazy {
namespace {

void* open(Lib lib) {
  // The major version of the toolkit the build compiled against: its ABI is what the header's
  // types describe.
  static const std::string names[] = {"libcublas.so." + std::to_string(CUBLAS_VER_MAJOR),
                                      "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR)};
  static void* handles[2] = {nullptr, nullptr};
  static std::once_flag once[2];
  const int i = lib == Lib::cublas ? 0 : 1;
  std::call_once(once[i], [&] { handles[i] = dlopen(names[i].c_str(), RTLD_NOW | RTLD_LOCAL); });
  if (!handles[i]) {
    const char* why = dlerror();
    throw Error("cannot load " + names[i] + " (the CUDA toolkit's cuBLAS, needed for GEMMs on " +
                "the GPU): " + (why ? why : "not found on the library path"));
  }
  return handles[i];
}

}  // namespace

void* symbol(Lib lib, const char* name) {
  void* h = open(lib);
  void* s = dlsym(h, name);
  if (!s)
    throw Error(std::string("cuBLAS: symbol ") + name + " not found (" +
                (lib == Lib::cublas ? "libcublas" : "libcublasLt") + ")");
  return s;
}

}  // namespace vpmoe::cuda_impl::lazy
