#pragma once
// What the attention kernels get from ops::AttentionArgs, after the shape and device checks.
#include "vpmoe/ops.h"

namespace vpmoe::ops::cuda::attn {

struct Params {
  int B, T, nh, ng, per_group;
  int window;           // 0: causal
  float scale;          // applied to q . k
  float scale2;         // scale * log2(e): the kernels work in base 2
  const float* slopes;  // [nh] or null
  const float* sink;    // [nh] or null
};

// Checks q [B, T, nh, d], k and v [B, T, ng, d] (one dtype, CUDA), slopes and sink ([nh] f32).
Params make_params(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                   const char* op);

}  // namespace vpmoe::ops::cuda::attn
