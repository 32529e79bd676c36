// Bias add and gradient per consecutive row group (one bias row per MoE expert). The group
// offsets go up once per call; the gradient is a segmented column sum (column_sum.cuh: fixed
// order, no atomics, skewed groups split into chunks).
#include "ops/cuda/column_sum.cuh"
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

// dy[r][c], one term of a group's column sum.
template <class T>
struct GroupTerm {
  const T* dy;
  std::int64_t C;
  __device__ float operator()(std::int64_t r, std::int64_t c) const { return to_f(dy[r * C + c]); }
};

// Checks [M, C] against [G, C] and G row counts summing to M.
void check_grouped(const Tensor& x, const Tensor& b, std::span<const std::int64_t> rows,
                   const char* op) {
  VPMOE_CHECK(x.ndim() == 2 && b.ndim() == 2 && b.size(1) == x.size(1) &&
                  b.size(0) == std::int64_t(rows.size()),
              std::string(op) + ": expected rows [M, C] and biases [G, C] with G row counts, got " +
                  x.str() + ", " + b.str() + " and " + std::to_string(rows.size()) + " counts");
  std::int64_t total = 0;
  for (std::int64_t n : rows) {
    VPMOE_CHECK(n >= 0, std::string(op) + ": negative row count");
    total += n;
  }
  VPMOE_CHECK(total == x.size(0), std::string(op) + ": row counts sum to " + std::to_string(total) +
                                      ", x has " + std::to_string(x.size(0)) + " rows");
}

}  // namespace

void bias_add_grouped(Tensor& x, const Tensor& bias, std::span<const std::int64_t> rows) {
  check_cuda_tensor(x, "bias_add_grouped");
  const std::int64_t M = x.ndim() == 2 ? x.size(0) : 0, C = x.ndim() == 2 ? x.size(1) : 0;
  check_grouped(x, bias, rows, "bias_add_grouped");
  std::int64_t* off = upload_group_offsets(rows, x.device(), "bias_add_grouped", M);
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
  check_grouped(dy, dbias, rows, "bias_grad_grouped");
  const std::int64_t C = dy.size(1);
  Launch L(dbias);
  dispatch_float(dy.dtype(), "bias_grad_grouped", [&](auto t) {
    using T = decltype(t);
    colsum::segmented_column_sum(L, dbias.device(), rows, C, GroupTerm<T>{dy.data_as<const T>(), C},
                                 dbias.data_as<float>(), accumulate, "bias_grad_grouped");
  });
}

}  // namespace vpmoe::ops::cuda
