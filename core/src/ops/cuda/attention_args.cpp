#include "ops/cuda/attention_args.h"

#include <climits>
#include <string>

#include "ops/cuda/cuda_ops.h"
#include "vpmoe/error.h"

namespace vpmoe::ops::cuda::attn {

Params make_params(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                   const char* op) {
  const std::string o(op);
  for (const Tensor* t : {&q, &k, &v})
    VPMOE_CHECK(t->defined() && t->device().is_cuda(), o + ": q, k, v must be CUDA tensors");
  VPMOE_CHECK(q.ndim() == 4 && k.ndim() == 4,
              o + ": q and k must be [B, T, heads, d], got " + q.str() + ", " + k.str());
  VPMOE_CHECK(k.size(0) == q.size(0) && k.size(1) == q.size(1) && k.size(3) == q.size(3) &&
                  k.size(2) > 0 && q.size(2) % k.size(2) == 0,
              o + ": k must be [B, T, ng, d] with ng dividing nh: q " + q.str() + ", k " + k.str());
  check_shape(v, k.shape(), (o + ": v").c_str());
  VPMOE_CHECK(k.dtype() == q.dtype() && v.dtype() == q.dtype(),
              o + ": q, k, v must share a dtype: " + q.str() + ", " + k.str() + ", " + v.str());
  VPMOE_CHECK(q.size(1) < INT_MAX / 2 && q.size(0) * q.size(2) < 65535,
              o + ": sequence or batch x heads too large for one launch: " + q.str());
  for (const Tensor* t : {&a.slopes, &a.sink})
    if (t->defined()) {
      check_dtype(*t, DType::f32, (o + ": slopes/sink").c_str());
      VPMOE_CHECK(t->numel() == q.size(2), o + ": slopes and sink must be [nh], got " + t->str());
    }
  VPMOE_CHECK(a.window >= 0, o + ": window must be >= 0");
  Params p{};
  p.B = int(q.size(0)), p.T = int(q.size(1)), p.nh = int(q.size(2)), p.ng = int(k.size(2));
  p.per_group = p.nh / p.ng;
  p.window = a.window >= p.T ? 0 : int(a.window);  // a window as long as the sequence is causal
  p.scale = a.scale;
  p.scale2 = a.scale * 1.4426950408889634f;
  p.slopes = a.slopes.defined() ? a.slopes.data_as<const float>() : nullptr;
  p.sink = a.sink.defined() ? a.sink.data_as<const float>() : nullptr;
  return p;
}

}  // namespace vpmoe::ops::cuda::attn
