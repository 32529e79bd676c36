// vpmoe/cuda_launch.h, the plugins' CUDA scope: vpmoe's stream for the device, the device
// restored after the scope, and a failed call named by the plugin and the kernel.
#include "core/ops_cuda/cuda_test_util.h"
#include "vpmoe/cuda_launch.h"

namespace vpmoe::testing {
namespace {

TEST(CudaLaunch, StreamDeviceAndErrors) {
  VPMOE_REQUIRE_CUDA();
  int before = -1;
  ASSERT_EQ(cudaGetDevice(&before), cudaSuccess);
  {
    CudaLaunch L(Device::cuda(0), "test.plugin");
    EXPECT_EQ(static_cast<void*>(L.stream()), current_stream(Device::cuda(0)));
    L.check("nothing launched");  // no error pending
    try {
      L.check(cudaErrorInvalidConfiguration, "my kernel");
      ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("test.plugin (CUDA) my kernel: "), std::string::npos) << m;
    }
  }
  int after = -1;
  ASSERT_EQ(cudaGetDevice(&after), cudaSuccess);
  EXPECT_EQ(after, before);
}

}  // namespace
}  // namespace vpmoe::testing
