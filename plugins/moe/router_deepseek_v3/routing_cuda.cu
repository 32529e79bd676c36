#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <string>

#include "routing_cuda.h"
#include "vpmoe/cuda_launch.h"
#include "vpmoe/error.h"

namespace vpmoe::router::cuda {
namespace {

constexpr int kMaxExperts = 1024;  // 32 per lane: a lane's taken set fits one 32-bit mask
constexpr int kMaxInGroup = 8;
constexpr int kPartialChunk = 64;  // tokens per partial sum of the aux loss

// Total order of the selection: higher value first, then the lower expert index.
__device__ __forceinline__ bool better(double v, int e, double bv, int be) {
  return v > bv || (v == bv && e < be);
}

// Every lane ends with the warp's best (v, e).
__device__ __forceinline__ void warp_argmax(double& v, int& e) {
  for (int o = 16; o > 0; o >>= 1) {
    const double ov = __shfl_xor_sync(~0u, v, o);
    const int oe = __shfl_xor_sync(~0u, e, o);
    if (better(ov, oe, v, e)) v = ov, e = oe;
  }
}

// One round of a warp's top-k: the best (score(e), e) over the experts e < E not yet in
// `taken` (this lane's bits) that `allowed` admits; every lane gets it, and its owner marks it
// taken. Lane l owns experts l, l + 32, ...
template <class Score, class Allowed>
__device__ __forceinline__ int warp_pick(int lane, int J, int E, unsigned& taken, Score score,
                                         Allowed allowed, double inf) {
  double bv = -inf;
  int be = INT_MAX;
  for (int j = 0; j < J; ++j) {
    const int e = lane + 32 * j;
    if (e >= E) break;
    if (((taken >> j) & 1u) || !allowed(e)) continue;
    const double v = score(e);
    if (better(v, e, bv, be)) bv = v, be = e;
  }
  warp_argmax(bv, be);
  if ((be & 31) == lane) taken |= 1u << (be >> 5);
  return be;
}

// One warp per token. Lane l owns experts l, l + 32, ... (bit j of its masks is l + 32 j).
__global__ void route_kernel(const float* __restrict__ z, const float* __restrict__ bias,
                             long long N, int E, int G, int gk, int k, long long T, double scale,
                             bool aux, float* __restrict__ sigma, int* __restrict__ experts,
                             float* __restrict__ weights, int* __restrict__ counts,
                             int* __restrict__ seq_counts, float* __restrict__ row_sum) {
  extern __shared__ double smem[];
  const int warps = int(blockDim.x) / 32, w = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const long long t = (long long)blockIdx.x * warps + w;
  if (t >= N) return;  // whole warps only: no block-level barrier below
  double* u = smem + w * E;
  float* sg = reinterpret_cast<float*>(smem + warps * E) + w * E;
  const int J = (E + 31) / 32, per = E / G, in = k / gk;
  const double inf = __longlong_as_double(0x7ff0000000000000LL);

  float rs = 0.f;
  for (int j = 0; j < J; ++j) {
    const int e = lane + 32 * j;
    if (e >= E) break;
    // sigmoid in double, rounded to f32: the host path's value.
    const float s = float(1.0 / (1.0 + exp(-double(z[t * E + e]))));
    sg[e] = s;
    sigma[t * E + e] = s;
    u[e] = double(s) + (bias ? double(bias[e]) : 0.0);
    rs += s;
  }
  __syncwarp();

  // Group score (lane g): the sum of the group's `in` best biased scores, best first.
  double gscore = -inf;
  if (lane < G) {
    double top[kMaxInGroup];
    for (int i = 0; i < in; ++i) top[i] = -inf;
    for (int i = 0; i < per; ++i) {
      const double v = u[lane * per + i];
      if (!(v > top[in - 1])) continue;
      int p = in - 1;
      while (p > 0 && v > top[p - 1]) top[p] = top[p - 1], --p;
      top[p] = v;
    }
    gscore = 0;
    for (int i = 0; i < in; ++i) gscore += top[i];
  }
  unsigned kept = 0;
  for (int r = 0; r < gk; ++r) {
    const bool live = lane < G && !((kept >> lane) & 1u);
    double v = live ? gscore : -inf;
    int g = live ? lane : INT_MAX;
    warp_argmax(v, g);
    kept |= 1u << g;
  }

  // Top k of the biased scores inside the kept groups; lane i keeps the i-th choice.
  unsigned taken = 0;
  int mine = 0;
  for (int r = 0; r < k; ++r) {
    const int be = warp_pick(
        lane, J, E, taken, [&](int e) { return u[e]; },
        [&](int e) { return ((kept >> (e / per)) & 1u) != 0; }, inf);
    if (lane == r) mine = be;
  }
  double total = 0;  // in slot order, as the host sums
  for (int i = 0; i < k; ++i) total += double(sg[__shfl_sync(~0u, mine, i)]);
  if (lane < k) {
    experts[t * k + lane] = mine;
    weights[t * k + lane] = float(scale * double(sg[mine]) / (total + 1e-20));
    atomicAdd(&counts[mine], 1);
  }
  if (!aux) return;

  // Aux loss inputs: the row sum of sigma and the plain top-k (of sigma, same order as P).
  for (int o = 16; o > 0; o >>= 1) rs += __shfl_xor_sync(~0u, rs, o);
  if (lane == 0) row_sum[t] = rs;
  const long long b = t / T;
  unsigned plain = 0;
  for (int r = 0; r < k; ++r) {
    const int be = warp_pick(
        lane, J, E, plain, [&](int e) { return double(sg[e]); }, [](int) { return true; }, inf);
    if (lane == 0) atomicAdd(&seq_counts[b * E + be], 1);
  }
}

// partial[b, c, e] = sum over the c-th chunk of sequence b of sigma[t, e] / row_sum[t].
__global__ void aux_partial_kernel(const float* __restrict__ sigma,
                                   const float* __restrict__ row_sum, int E, long long T, int cps,
                                   float* __restrict__ partial) {
  const int c = int(blockIdx.x);
  const long long b = blockIdx.y, t0 = b * T + (long long)c * kPartialChunk;
  const long long t1 = t0 + kPartialChunk < (b + 1) * T ? t0 + kPartialChunk : (b + 1) * T;
  for (int e = int(threadIdx.x); e < E; e += int(blockDim.x)) {
    float acc = 0.f;
    for (long long t = t0; t < t1; ++t) acc += sigma[t * E + e] / row_sum[t];
    partial[(b * cps + c) * E + e] = acc;
  }
}

// loss = f / seqs * sum_b sum_e c_be * sum_c partial[b, c, e], a fixed-order block reduction.
__global__ void aux_loss_kernel(const float* __restrict__ partial,
                                const int* __restrict__ seq_counts, int E, long long seqs, int cps,
                                double f, float* __restrict__ loss) {
  __shared__ double red[256];
  double acc = 0;
  for (long long p = threadIdx.x; p < seqs * E; p += blockDim.x) {
    const long long b = p / E, e = p % E;
    double ps = 0;
    for (int c = 0; c < cps; ++c) ps += double(partial[(b * cps + c) * E + e]);
    acc += double(seq_counts[p]) * ps;
  }
  red[threadIdx.x] = acc;
  __syncthreads();
  for (int s = 128; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) red[threadIdx.x] += red[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) loss[0] = float(f * red[0] / double(seqs));
}

// One warp per token: dz = sigma (1 - sigma) * (combine-weight term + gs * aux term).
__global__ void route_backward_kernel(const float* __restrict__ sigma,
                                      const int* __restrict__ experts, const float* __restrict__ dw,
                                      const int* __restrict__ seq_counts,
                                      const float* __restrict__ row_sum, long long N, int E, int k,
                                      long long T, double scale, double f, double gs, bool aux,
                                      float* __restrict__ dz) {
  const int warps = int(blockDim.x) / 32, lane = int(threadIdx.x) % 32;
  const long long t = (long long)blockIdx.x * warps + int(threadIdx.x) / 32;
  if (t >= N) return;
  const float* sr = sigma + t * E;
  const int* ex = experts + t * k;
  const float* dwr = dw + t * k;
  const int J = (E + 31) / 32;
  const int* cb = aux ? seq_counts + (t / T) * E : nullptr;
  double S = 1, dot = 0;
  if (aux) {
    S = double(row_sum[t]);
    for (int j = 0; j < J; ++j) {
      const int e = lane + 32 * j;
      if (e < E) dot += f * double(cb[e]) * double(sr[e]);
    }
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(~0u, dot, o);
    dot /= S;
  }
  double Sk = 1e-20, dk = 0;  // slot order, as the host sums
  for (int i = 0; i < k; ++i) {
    const double s = double(sr[ex[i]]);
    Sk += s;
    dk += double(dwr[i]) * s;
  }
  for (int j = 0; j < J; ++j) {
    const int e = lane + 32 * j;
    if (e >= E) break;
    double ds = aux ? gs * (f * double(cb[e]) - dot) / S : 0.0;
    for (int i = 0; i < k; ++i)
      if (ex[i] == e) ds += scale * (double(dwr[i]) / Sk - dk / (Sk * Sk));
    const double s = double(sr[e]);
    dz[t * E + e] = float(ds * s * (1.0 - s));
  }
}

constexpr int kWarpsPerBlock = 4;

unsigned blocks_for(long long N) {
  return unsigned((N + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

double aux_factor(const RoutingShape& s, double coeff, long long T) {
  return coeff * s.experts / (double(s.k) * double(T) * double(T));
}

}  // namespace

RouteState route_forward(const RoutingShape& s, const Tensor& logits, const Tensor& bias,
                         std::int64_t seqs, bool aux, double coeff) {
  const Device dev = logits.device();
  const long long N = logits.size(0);
  const int E = s.experts, k = s.k;
  check_dtype(logits, DType::f32, "moe.router.deepseek_v3 (CUDA): logits");
  check_shape(logits, {N, E}, "moe.router.deepseek_v3 (CUDA): logits");
  if (E > kMaxExperts || s.groups > 32 || k > 32 || s.k / s.group_topk > kMaxInGroup)
    throw Error("moe.router.deepseek_v3 (CUDA): supports up to " + std::to_string(kMaxExperts) +
                " experts, 32 groups, top-k 32 and " + std::to_string(kMaxInGroup) +
                " experts per kept group; got " + std::to_string(E) + ", " +
                std::to_string(s.groups) + ", " + std::to_string(k) + ", " +
                std::to_string(s.k / s.group_topk));
  if (seqs <= 0 || N % seqs != 0)
    throw Error("moe.router.deepseek_v3 (CUDA): " + std::to_string(N) +
                " tokens do not split into " + std::to_string(seqs) + " sequences");
  if (bias.defined()) check_shape(bias, {E}, "moe.router.deepseek_v3 (CUDA): expert bias");
  RouteState st;
  st.seqs = seqs, st.aux = aux;
  st.sigma = Tensor::empty({N, E}, DType::f32, dev);
  st.experts = Tensor::empty({N, k}, DType::i32, dev);
  st.weights = Tensor::empty({N, k}, DType::f32, dev);
  st.counts = Tensor::zeros({E}, DType::i32, dev);
  const long long T = N / seqs;
  if (aux) {
    st.seq_counts = Tensor::zeros({seqs, E}, DType::i32, dev);
    st.row_sum = Tensor::empty({N}, DType::f32, dev);
    st.aux_loss = Tensor::empty({1}, DType::f32, dev);
  }
  if (N == 0) {
    if (aux) st.aux_loss.zero_();
    return st;
  }
  CudaLaunch L(dev, "moe.router.deepseek_v3");
  const cudaStream_t stream = L.stream();
  const std::size_t smem = std::size_t(kWarpsPerBlock) * std::size_t(E) * 12;
  route_kernel<<<blocks_for(N), kWarpsPerBlock * 32, smem, stream>>>(
      logits.data_as<float>(), bias.defined() ? bias.data_as<float>() : nullptr, N, E, s.groups,
      s.group_topk, k, T, s.scale, aux, st.sigma.data_as<float>(), st.experts.data_as<int>(),
      st.weights.data_as<float>(), st.counts.data_as<int>(),
      aux ? st.seq_counts.data_as<int>() : nullptr, aux ? st.row_sum.data_as<float>() : nullptr);
  L.check("route kernel");
  if (aux) {
    const int cps = int((T + kPartialChunk - 1) / kPartialChunk);
    Tensor partial = Tensor::empty({seqs * cps, E}, DType::f32, dev);
    aux_partial_kernel<<<dim3(unsigned(cps), unsigned(seqs)), 256, 0, stream>>>(
        st.sigma.data_as<float>(), st.row_sum.data_as<float>(), E, T, cps,
        partial.data_as<float>());
    L.check("aux partial kernel");
    aux_loss_kernel<<<1, 256, 0, stream>>>(partial.data_as<float>(), st.seq_counts.data_as<int>(),
                                           E, seqs, cps, aux_factor(s, coeff, T),
                                           st.aux_loss.data_as<float>());
    L.check("aux loss kernel");
  }
  return st;
}

Tensor route_backward(const RoutingShape& s, const RouteState& st, const Tensor& dweights,
                      double coeff, double aux_grad_scale) {
  const Device dev = st.sigma.device();
  const long long N = st.sigma.size(0);
  const int E = s.experts, k = s.k;
  check_dtype(dweights, DType::f32, "moe.router.deepseek_v3 (CUDA): dweights");
  check_shape(dweights, {N, k}, "moe.router.deepseek_v3 (CUDA): dweights");
  Tensor dz = Tensor::empty({N, E}, DType::f32, dev);
  if (N == 0) return dz;
  const long long T = N / st.seqs;
  CudaLaunch L(dev, "moe.router.deepseek_v3");
  const cudaStream_t stream = L.stream();
  route_backward_kernel<<<blocks_for(N), kWarpsPerBlock * 32, 0, stream>>>(
      st.sigma.data_as<float>(), st.experts.data_as<int>(), dweights.data_as<float>(),
      st.aux ? st.seq_counts.data_as<int>() : nullptr,
      st.aux ? st.row_sum.data_as<float>() : nullptr, N, E, k, T, s.scale, aux_factor(s, coeff, T),
      aux_grad_scale / double(st.seqs), st.aux, dz.data_as<float>());
  L.check("route backward kernel");
  return dz;
}

}  // namespace vpmoe::router::cuda
