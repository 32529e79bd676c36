// Bias add and gradient per consecutive row group (one bias row per MoE expert). The group
// offsets go up once per call; the gradient sums each group's rows in row order per column
// (deterministic, no atomics).
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/group_offsets.h"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {
namespace {

// The group of row r: the last g with off[g] <= r (off has G + 1 entries, off[G] = M).
__device__ __forceinline__ int group_of(const std::int64_t* off, int G, std::int64_t r) {
  int lo = 0, hi = G - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (off[mid] <= r)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

template <class TX, class TB, bool Vec>
__global__ void bias_add_grouped_kernel(std::int64_t C, int G, const std::int64_t* off, TX* x,
                                        const TB* bias) {
  const std::int64_t r = blockIdx.x;
  const TB* b = bias + std::int64_t(group_of(off, G, r)) * C;
  TX* row = x + r * C;
  if constexpr (Vec) {
    for (std::int64_t c = std::int64_t(threadIdx.x) * kVec; c < C; c += blockDim.x * kVec) {
      Pack<TX> px = *reinterpret_cast<Pack<TX>*>(row + c);
      const Pack<TB> pb = *reinterpret_cast<const Pack<TB>*>(b + c);
#pragma unroll
      for (int j = 0; j < kVec; ++j) px.v[j] = from_f<TX>(to_f(px.v[j]) + to_f(pb.v[j]));
      *reinterpret_cast<Pack<TX>*>(row + c) = px;
    }
  } else {
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x)
      row[c] = from_f<TX>(to_f(row[c]) + to_f(b[c]));
  }
}

template <class T>
__global__ void bias_grad_grouped_kernel(std::int64_t C, const std::int64_t* off, const T* dy,
                                         float* dbias, bool accumulate) {
  const int g = int(blockIdx.y);
  const std::int64_t c = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float acc = accumulate ? dbias[std::int64_t(g) * C + c] : 0.f;
  for (std::int64_t r = off[g]; r < off[g + 1]; ++r) acc += to_f(dy[r * C + c]);
  dbias[std::int64_t(g) * C + c] = acc;
}

// Checks [M, C] against [G, C]; uploads the G + 1 offsets (device memory freed by the caller).
std::int64_t* upload_offsets(const Tensor& x, const Tensor& b, std::span<const std::int64_t> rows,
                             const char* op) {
  VPMOE_CHECK(x.ndim() == 2 && b.ndim() == 2 && b.size(1) == x.size(1) &&
                  b.size(0) == std::int64_t(rows.size()),
              std::string(op) + ": expected rows [M, C] and biases [G, C] with G row counts, got " +
                  x.str() + ", " + b.str() + " and " + std::to_string(rows.size()) + " counts");
  return upload_group_offsets(rows, x.device(), op, x.size(0));
}

}  // namespace

void bias_add_grouped(Tensor& x, const Tensor& bias, std::span<const std::int64_t> rows) {
  check_cuda_tensor(x, "bias_add_grouped");
  const std::int64_t M = x.ndim() == 2 ? x.size(0) : 0, C = x.ndim() == 2 ? x.size(1) : 0;
  std::int64_t* off = upload_offsets(x, bias, rows, "bias_add_grouped");
  Launch L(x);
  if (M > 0 && C > 0) {
    const bool vec = C % kVec == 0 && aligned16(x.data()) && aligned16(bias.data());
    const int threads = int(std::min<std::int64_t>(256, ((vec ? C / kVec : C) + 31) / 32 * 32));
    dispatch_float(x.dtype(), "bias_add_grouped", [&](auto tx) {
      using TX = decltype(tx);
      dispatch_float(bias.dtype(), "bias_add_grouped", [&](auto tb) {
        using TB = decltype(tb);
        if (vec)
          bias_add_grouped_kernel<TX, TB, true><<<unsigned(M), threads, 0, L.stream>>>(
              C, int(rows.size()), off, x.data_as<TX>(), bias.data_as<const TB>());
        else
          bias_add_grouped_kernel<TX, TB, false><<<unsigned(M), threads, 0, L.stream>>>(
              C, int(rows.size()), off, x.data_as<TX>(), bias.data_as<const TB>());
        VPMOE_CUDA_LAUNCH_CHECK();
      });
    });
  }
  device_free(x.device(), off);
}

void bias_grad_grouped(const Tensor& dy, std::span<const std::int64_t> rows, Tensor& dbias,
                       bool accumulate) {
  check_cuda_tensor(dy, "bias_grad_grouped");
  check_dtype(dbias, DType::f32, "bias_grad_grouped: dbias");
  std::int64_t* off = upload_offsets(dy, dbias, rows, "bias_grad_grouped");
  const std::int64_t C = dy.size(1), G = dbias.size(0);
  Launch L(dbias);
  if (C > 0 && G > 0) {
    const int threads = int(std::min<std::int64_t>(256, (C + 31) / 32 * 32));
    const dim3 grid(unsigned((C + threads - 1) / threads), unsigned(G));
    dispatch_float(dy.dtype(), "bias_grad_grouped", [&](auto t) {
      using T = decltype(t);
      bias_grad_grouped_kernel<T><<<grid, threads, 0, L.stream>>>(
          C, off, dy.data_as<const T>(), dbias.data_as<float>(), accumulate);
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  }
  device_free(dbias.device(), off);
}

}  // namespace vpmoe::ops::cuda
