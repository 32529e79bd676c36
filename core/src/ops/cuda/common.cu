#include <mutex>
#include <vector>

#include "ops/cuda/common.cuh"

namespace vpmoe::ops::cuda {

int sm_count(int device) {
  static std::mutex mu;
  static std::vector<int> counts;
  std::lock_guard<std::mutex> lock(mu);
  if (device >= int(counts.size())) counts.resize(device + 1, 0);
  if (counts[device] == 0)
    VPMOE_CUDA_CHECK(
        cudaDeviceGetAttribute(&counts[device], cudaDevAttrMultiProcessorCount, device));
  return counts[device];
}

void check_cuda_tensor(const Tensor& t, const char* what) {
  VPMOE_CHECK(t.defined(), std::string(what) + ": tensor not defined");
  VPMOE_CHECK(t.device().is_cuda(), std::string(what) + ": expected a CUDA tensor, got " + t.str());
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  VPMOE_CHECK(a.shape() == b.shape(),
              std::string(what) + ": shapes differ: " + a.str() + " vs " + b.str());
}

}  // namespace vpmoe::ops::cuda
