// cuBLAS is opened on first use, not at start-up (it cost every command ~0.4 s): before the
// first call no libcublas is mapped into the process; a call (one that needs no GPU) loads it.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "ops/cuda/cublas_lazy.h"

namespace vpmoe::testing {
namespace {

bool mapped(const std::string& lib) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find(lib) != std::string::npos) return true;
  return false;
}

TEST(CublasLazy, LoadedOnFirstUseOnly) {
  EXPECT_FALSE(mapped("libcublas.so")) << "linked, or loaded at start-up";
  const std::string s = cuda_impl::lazy::cublasGetStatusString(CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_NE(s.find("not supported"), std::string::npos) << s;
  EXPECT_TRUE(mapped("libcublas.so"));
}

}  // namespace
}  // namespace vpmoe::testing
