// Softmax cross-entropy over a wide vocabulary: one block per row streams the row once
// (online max and sum per thread, merged in a fixed order), no probabilities stored.
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ void online_add(float x, float& m, float& s) {
  if (x > m) {
    s = s * expf(m - x) + 1.f;  // exp(-inf) = 0 on the first element
    m = x;
  } else if (x != -INFINITY) {  // a masked logit adds nothing (and no NaN from -inf - -inf)
    s += expf(x - m);
  }
}

template <class T>
__global__ void ce_fwd_kernel(std::int64_t V, const T* logits, const std::int32_t* targets,
                              float* loss, float* lse, bool vec) {
  std::int64_t row = blockIdx.x;
  const T* x = logits + row * V;
  float m = -INFINITY, s = 0.f;
  if (vec) {
    for (std::int64_t p = threadIdx.x; p < V / kVec; p += blockDim.x) {
      Pack<T> px = reinterpret_cast<const Pack<T>*>(x)[p];
#pragma unroll
      for (int j = 0; j < kVec; ++j) online_add(to_f(px.v[j]), m, s);
    }
  } else {
    for (std::int64_t c = threadIdx.x; c < V; c += blockDim.x) online_add(to_f(x[c]), m, s);
  }
  float M = block_max(m);
  float S = block_sum(m == -INFINITY ? 0.f : s * expf(m - M));
  if (threadIdx.x == 0) {
    float l = M + logf(S);
    std::int32_t t = targets[row];
    lse[row] = l;
    // An out-of-range target (padding) contributes no loss; mask it out upstream.
    loss[row] = (t >= 0 && t < V) ? l - to_f(x[t]) : 0.f;
  }
}

template <class TL, class TD>
__global__ void ce_bwd_kernel(std::int64_t V, const TL* logits, const std::int32_t* targets,
                              const float* lse, const float* row_scale, TD* dlogits, bool vec) {
  std::int64_t row = blockIdx.x;
  const TL* x = logits + row * V;
  TD* d = dlogits + row * V;
  float l = lse[row], sc = row_scale[row];
  std::int64_t t = targets[row];
  if (vec) {
    for (std::int64_t p = threadIdx.x; p < V / kVec; p += blockDim.x) {
      Pack<TL> px = reinterpret_cast<const Pack<TL>*>(x)[p];
      Pack<TD> pd;
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        float g = expf(to_f(px.v[j]) - l) - (p * kVec + j == t ? 1.f : 0.f);
        pd.v[j] = from_f<TD>(sc == 0.f ? 0.f : g * sc);
      }
      reinterpret_cast<Pack<TD>*>(d)[p] = pd;
    }
  } else {
    for (std::int64_t c = threadIdx.x; c < V; c += blockDim.x) {
      float g = expf(to_f(x[c]) - l) - (c == t ? 1.f : 0.f);
      d[c] = from_f<TD>(sc == 0.f ? 0.f : g * sc);
    }
  }
}

void check_rows(const Tensor& logits, const Tensor& targets, std::int64_t& N, std::int64_t& V,
                const char* op) {
  check_cuda_tensor(logits, op);
  VPMOE_CHECK(logits.ndim() == 2, std::string(op) + ": logits must be [N, V]");
  N = logits.size(0);
  V = logits.size(1);
  check_dtype(targets, DType::i32, "cross_entropy: targets");
  VPMOE_CHECK(targets.numel() == N, std::string(op) + ": targets must be [N]");
  VPMOE_CHECK(N < (std::int64_t(1) << 31), std::string(op) + ": too many rows");
}

}  // namespace

void cross_entropy_forward(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& lse) {
  std::int64_t N, V;
  check_rows(logits, targets, N, V, "cross_entropy_forward");
  check_dtype(loss, DType::f32, "cross_entropy_forward: loss");
  check_dtype(lse, DType::f32, "cross_entropy_forward: lse");
  VPMOE_CHECK(loss.numel() == N && lse.numel() == N, "cross_entropy_forward: loss, lse are [N]");
  Launch L(logits);
  if (N == 0) return;
  dispatch_float(logits.dtype(), "cross_entropy_forward", [&](auto tl) {
    using T = decltype(tl);
    bool vec = V % kVec == 0 && aligned16(logits.data());
    ce_fwd_kernel<<<unsigned(N), kThreads, 0, L.stream>>>(
        V, logits.data_as<const T>(), targets.data_as<const std::int32_t>(), loss.data_as<float>(),
        lse.data_as<float>(), vec);
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse,
                            const Tensor& row_scale, Tensor& dlogits) {
  std::int64_t N, V;
  check_rows(logits, targets, N, V, "cross_entropy_backward");
  check_same_shape(logits, dlogits, "cross_entropy_backward");
  check_dtype(lse, DType::f32, "cross_entropy_backward: lse");
  check_dtype(row_scale, DType::f32, "cross_entropy_backward: row_scale");
  VPMOE_CHECK(lse.numel() == N && row_scale.numel() == N,
              "cross_entropy_backward: lse, row_scale are [N]");
  VPMOE_CHECK(logits.data() != dlogits.data() || logits.dtype() == dlogits.dtype(),
              "cross_entropy_backward: in place needs equal dtypes");
  Launch L(logits);
  if (N == 0) return;
  dispatch_float(logits.dtype(), "cross_entropy_backward", [&](auto tl) {
    using TL = decltype(tl);
    dispatch_float(dlogits.dtype(), "cross_entropy_backward", [&](auto td) {
      using TD = decltype(td);
      bool vec = V % kVec == 0 && aligned16(logits.data()) && aligned16(dlogits.data());
      ce_bwd_kernel<<<unsigned(N), kThreads, 0, L.stream>>>(
          V, logits.data_as<const TL>(), targets.data_as<const std::int32_t>(),
          lse.data_as<const float>(), row_scale.data_as<const float>(), dlogits.data_as<TD>(), vec);
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace vpmoe::ops::cuda
