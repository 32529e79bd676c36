#pragma once
// One AdamW update over every element of a parameter (all tensors f32, one device), with g the
// grad times grad_scale:
// m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2; w <- w (1 - lr wd) - lr (m/bc1) / (sqrt(v/bc2) +
// eps).
#include "vpmoe/tensor.h"

namespace vpmoe::adamw {

struct UpdateArgs {
  float lr, wd, beta1, beta2, eps, bc1, bc2;  // bc = 1 - beta^t
  float grad_scale = 1.f;                     // g is read as g * grad_scale
};

void update_cpu(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const UpdateArgs& a);
// compute: the parameter's bf16 weights, refreshed from w in the same pass (or null).
void update_cuda(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const UpdateArgs& a,
                 Tensor* compute = nullptr);

}  // namespace vpmoe::adamw
