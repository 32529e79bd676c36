// Decode attention: a few queries against a cache of keys. One block per (query, batch, head)
// walks the allowed keys in chunks of kThreads: each thread scores one key (fp32 dot), the
// block updates an online softmax (its max starts at the head's offset), then each thread
// accumulates its output dims over the chunk's values. Simple and exact in fp32; decode is
// bound by reading the cache, not by this arithmetic.
#include <climits>

#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kDimsPerThread = 4;  // head_dim <= 512

struct DecodeParams {
  int Tq, Tk, nh, ng, per_group, d;
  std::int64_t q_off, window;  // window 0: causal
  float scale;
  const float* slopes;  // [nh] or null
  const float* sink;    // [nh] or null
};

template <class T>
__global__ void __launch_bounds__(kThreads)
    decode_kernel(DecodeParams p, const T* q, const T* k, const T* v, T* out) {
  extern __shared__ float smem[];
  float* qs = smem;        // [d]
  float* ps = smem + p.d;  // [kThreads] probabilities of the chunk
  const int i = blockIdx.x, h = blockIdx.y % p.nh, b = blockIdx.y / p.nh, g = h / p.per_group;
  const int tid = threadIdx.x;
  const std::int64_t pos = p.q_off + i;
  const std::int64_t j0 = p.window > 0 && pos - p.window + 1 > 0 ? pos - p.window + 1 : 0;
  const T* qi = q + ((std::int64_t(b) * p.Tq + i) * p.nh + h) * p.d;
  for (int c = tid; c < p.d; c += kThreads) qs[c] = to_f(qi[c]);
  __syncthreads();
  const std::int64_t kstride = std::int64_t(p.ng) * p.d;
  const T* kb = k + std::int64_t(b) * p.Tk * kstride + std::int64_t(g) * p.d;
  const T* vb = v + std::int64_t(b) * p.Tk * kstride + std::int64_t(g) * p.d;
  const float slope = p.slopes ? p.slopes[h] : 0.f;
  // The offset is one more logit: exp(o_h) relative to a max that starts at o_h is 1.
  float m_run = p.sink ? p.sink[h] : -INFINITY;
  float l_run = p.sink ? 1.f : 0.f;
  float acc[kDimsPerThread] = {};
  for (std::int64_t jc = j0; jc <= pos; jc += kThreads) {
    const std::int64_t j = jc + tid;
    float s = -INFINITY;
    if (j <= pos) {
      const T* kj = kb + j * kstride;
      float dot = 0.f;
      for (int c = 0; c < p.d; ++c) dot += qs[c] * to_f(kj[c]);
      s = dot * p.scale - slope * float(pos - j);
    }
    const float m_new = fmaxf(m_run, block_max(s));
    const float alpha = m_run == -INFINITY ? 0.f : expf(m_run - m_new);
    const float pj = j <= pos ? expf(s - m_new) : 0.f;
    ps[tid] = pj;
    l_run = l_run * alpha + block_sum(pj);
    m_run = m_new;
    __syncthreads();  // ps complete
    const std::int64_t left = pos - jc + 1;
    const int count = left < kThreads ? int(left) : kThreads;
#pragma unroll
    for (int e = 0; e < kDimsPerThread; ++e) {
      const int c = tid + e * kThreads;
      if (c >= p.d) break;
      float a = acc[e] * alpha;
      for (int t = 0; t < count; ++t) a += ps[t] * to_f(vb[(jc + t) * kstride + c]);
      acc[e] = a;
    }
    __syncthreads();  // ps is rewritten by the next chunk
  }
  T* oi = out + ((std::int64_t(b) * p.Tq + i) * p.nh + h) * p.d;
  const float inv = l_run > 0.f ? 1.f / l_run : 0.f;
#pragma unroll
  for (int e = 0; e < kDimsPerThread; ++e) {
    const int c = tid + e * kThreads;
    if (c < p.d) oi[c] = from_f<T>(acc[e] * inv);
  }
}

}  // namespace

void attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                      std::int64_t q_offset, Tensor& out) {
  const std::string op = "attention_decode";
  for (const Tensor* t : {&q, &k, &v}) check_cuda_tensor(*t, op.c_str());
  VPMOE_CHECK(q.ndim() == 4 && k.ndim() == 4,
              op + ": q and k must be [B, T, heads, d], got " + q.str() + ", " + k.str());
  VPMOE_CHECK(
      k.size(0) == q.size(0) && k.size(3) == q.size(3) && k.size(2) > 0 &&
          q.size(2) % k.size(2) == 0,
      op + ": k must be [B, Tk, ng, d] with ng dividing nh: q " + q.str() + ", k " + k.str());
  check_shape(v, k.shape(), (op + ": v").c_str());
  check_same_shape(out, q, (op + ": out").c_str());
  VPMOE_CHECK(k.dtype() == q.dtype() && v.dtype() == q.dtype() && out.dtype() == q.dtype(),
              op + ": q, k, v, out must share a dtype");
  VPMOE_CHECK(q.size(3) <= kThreads * kDimsPerThread,
              op + ": head_dim above " + std::to_string(kThreads * kDimsPerThread));
  VPMOE_CHECK(q_offset >= 0 && q_offset + q.size(1) <= k.size(1),
              op + ": " + std::to_string(q.size(1)) + " queries at key index " +
                  std::to_string(q_offset) + " need more keys than " + k.str());
  VPMOE_CHECK(q.size(1) < INT_MAX && k.size(1) < INT_MAX && q.size(0) * q.size(2) < 65535,
              op + ": too large for one launch: " + q.str() + ", " + k.str());
  VPMOE_CHECK(a.window >= 0, op + ": window must be >= 0");
  for (const Tensor* t : {&a.slopes, &a.sink})
    if (t->defined()) {
      check_dtype(*t, DType::f32, (op + ": slopes/sink").c_str());
      VPMOE_CHECK(t->numel() == q.size(2), op + ": slopes and sink must be [nh], got " + t->str());
    }
  DecodeParams p{};
  p.Tq = int(q.size(1)), p.Tk = int(k.size(1)), p.nh = int(q.size(2)), p.ng = int(k.size(2));
  p.per_group = p.nh / p.ng, p.d = int(q.size(3));
  p.q_off = q_offset, p.window = a.window, p.scale = a.scale;
  p.slopes = a.slopes.defined() ? a.slopes.data_as<const float>() : nullptr;
  p.sink = a.sink.defined() ? a.sink.data_as<const float>() : nullptr;
  if (q.numel() == 0) return;
  Launch L(q);
  const std::size_t smem = std::size_t(p.d + kThreads) * sizeof(float);
  dispatch_float(q.dtype(), op.c_str(), [&](auto tx) {
    using T = decltype(tx);
    dim3 grid(unsigned(p.Tq), unsigned(q.size(0) * p.nh));
    decode_kernel<T><<<grid, kThreads, smem, L.stream>>>(
        p, q.data_as<const T>(), k.data_as<const T>(), v.data_as<const T>(), out.data_as<T>());
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace vpmoe::ops::cuda
