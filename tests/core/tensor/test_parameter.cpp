// Parameters: the seed of initial values depends on the run seed and the name only, and
// make() gives a zeroed grad and a compute copy sharing the value on the CPU.
#include <gtest/gtest.h>

#include "vpmoe/parameter.h"

namespace vpmoe {
namespace {

TEST(Parameter, SeedMixesRunSeedAndName) {
  EXPECT_EQ(parameter_seed(7, "layers.1.ffn.w1"), parameter_seed(7, "layers.1.ffn.w1"));
  EXPECT_NE(parameter_seed(7, "layers.1.ffn.w1"), parameter_seed(7, "layers.1.ffn.w2"));
  EXPECT_NE(parameter_seed(7, "layers.1.ffn.w1"), parameter_seed(8, "layers.1.ffn.w1"));
  // FNV-1a of the empty name is its offset basis.
  EXPECT_EQ(parameter_seed(0, ""), 1469598103934665603ull);
}

TEST(Parameter, MakeGivesZeroGradAndSharedComputeOnTheCpu) {
  Parameter p = Parameter::make("w", {2, 3}, ParamRole::matrix, Device::cpu());
  for (float g : p.grad.to_floats()) EXPECT_EQ(g, 0.f);
  EXPECT_EQ(p.compute.data(), p.value.data());
}

}  // namespace
}  // namespace vpmoe
