// Global-norm clipping: the norm over every grad, scaling only above the threshold (by
// max / (norm + 1e-6)), measuring only with max <= 0, the factor alone for the optimizers, and
// a non-finite norm reported with the grads left alone.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "train/grad_clip.h"

namespace vpmoe::testing {
namespace {

using host::train::clip_grad_norm;

struct Two {
  Parameter a = Parameter::make("a", {2}, ParamRole::bias, Device::cpu());
  Parameter b = Parameter::make("b", {1, 2}, ParamRole::matrix, Device::cpu());
  Two(float x0, float x1, float y0, float y1) {
    a.grad.copy_from(Tensor::from_floats({x0, x1}, {2}, DType::f32));
    b.grad.copy_from(Tensor::from_floats({y0, y1}, {1, 2}, DType::f32));
  }
  std::vector<Parameter*> list() { return {&a, &b}; }
};

TEST(GradClip, ScalesOnlyAboveTheThreshold) {
  Two t(3, 0, 0, 4);  // norm 5
  auto r = clip_grad_norm(t.list(), 10.0);
  EXPECT_NEAR(r.norm, 5.0, 1e-6);
  EXPECT_FALSE(r.clipped);
  EXPECT_EQ(t.a.grad.to_floats()[0], 3.f);
  r = clip_grad_norm(t.list(), 1.0);
  EXPECT_TRUE(r.clipped);
  const float c = float(1.0 / (5.0 + 1e-6));
  EXPECT_FLOAT_EQ(t.a.grad.to_floats()[0], 3.f * c);
  EXPECT_FLOAT_EQ(t.b.grad.to_floats()[1], 4.f * c);
  EXPECT_NEAR(clip_grad_norm(t.list(), 0.0).norm, 1.0, 1e-5) << "measure only";
}

// Leaving the factor to the optimizers: the same factor, the grads untouched.
TEST(GradClip, FactorOnlyLeavesTheGrads) {
  Two t(3, 0, 0, 4);  // norm 5
  const auto r = clip_grad_norm(t.list(), 1.0, /*scale_grads=*/false);
  EXPECT_TRUE(r.clipped);
  EXPECT_EQ(r.scale, float(1.0 / (5.0 + 1e-6)));
  EXPECT_EQ(t.a.grad.to_floats()[0], 3.f);
  EXPECT_EQ(clip_grad_norm(t.list(), 10.0, false).scale, 1.f) << "below the threshold";
}

TEST(GradClip, NonFiniteNormLeavesTheGrads) {
  Two t(std::numeric_limits<float>::infinity(), 1, 2, 3);
  const auto r = clip_grad_norm(t.list(), 1.0);
  EXPECT_FALSE(r.finite);
  EXPECT_FALSE(r.clipped);
  EXPECT_EQ(t.b.grad.to_floats()[1], 3.f);
}

}  // namespace
}  // namespace vpmoe::testing
