// RMSNorm over the last dim: one block per row, fp32 sums; dw in two fixed-order stages.
#include "ops/cuda/column_sum.cuh"
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"
#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {
namespace {

int row_threads(std::int64_t work) {
  std::int64_t t = (work + 31) / 32 * 32;
  return int(t < 32 ? 32 : (t > 256 ? 256 : t));
}

template <class TX, class TY>
__global__ void rms_fwd_kernel(std::int64_t C, const TX* x, const float* w, float eps, TY* y,
                               float* rstd, bool vec) {
  std::int64_t row = blockIdx.x;
  const TX* xr = x + row * C;
  TY* yr = y + row * C;
  float ss = 0.f;
  if (vec) {
    for (std::int64_t p = threadIdx.x; p < C / kVec; p += blockDim.x) {
      Pack<TX> px = reinterpret_cast<const Pack<TX>*>(xr)[p];
#pragma unroll
      for (int j = 0; j < kVec; ++j) ss += to_f(px.v[j]) * to_f(px.v[j]);
    }
  } else {
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) ss += to_f(xr[c]) * to_f(xr[c]);
  }
  ss = block_sum(ss);
  float r = 1.f / sqrtf(ss / float(C) + eps);
  if (threadIdx.x == 0) rstd[row] = r;
  if (vec) {
    for (std::int64_t p = threadIdx.x; p < C / kVec; p += blockDim.x) {
      Pack<TX> px = reinterpret_cast<const Pack<TX>*>(xr)[p];
      Pack<TY> py;
#pragma unroll
      for (int j = 0; j < kVec; ++j) py.v[j] = from_f<TY>(to_f(px.v[j]) * r * w[p * kVec + j]);
      reinterpret_cast<Pack<TY>*>(yr)[p] = py;
    }
  } else {
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x)
      yr[c] = from_f<TY>(to_f(xr[c]) * r * w[c]);
  }
}

// dx = r * (dy*w - x * r^2 * mean(dy*w*x)).
template <class TX, class TD>
__global__ void rms_bwd_kernel(std::int64_t C, const TD* dy, const TX* x, const float* w,
                               const float* rstd, TX* dx) {
  std::int64_t row = blockIdx.x;
  const TX* xr = x + row * C;
  const TD* gr = dy + row * C;
  TX* dxr = dx + row * C;
  float r = rstd[row];
  float dot = 0.f;
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x)
    dot += to_f(gr[c]) * w[c] * to_f(xr[c]);
  dot = block_sum(dot);
  float k = r * r * dot / float(C);
  for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x)
    dxr[c] = from_f<TX>(r * (to_f(gr[c]) * w[c] - to_f(xr[c]) * k));
}

// term(r, c) of dw: dy[r, c] * x[r, c] * rstd[r].
template <class TX, class TD>
struct DwTerm {
  const TD* dy;
  const TX* x;
  const float* rstd;
  std::int64_t C;
  __device__ float operator()(std::int64_t r, std::int64_t c) const {
    return to_f(dy[r * C + c]) * (to_f(x[r * C + c]) * rstd[r]);
  }
};

void check_rms(const Tensor& x, const Tensor& w, const Tensor& rstd, std::int64_t& rows,
               std::int64_t& C, const char* op) {
  check_cuda_tensor(x, op);
  VPMOE_CHECK(x.ndim() >= 1, std::string(op) + ": x needs a last dim");
  C = x.size(-1);
  rows = C ? x.numel() / C : 0;
  check_dtype(w, DType::f32, "rmsnorm: w");
  check_dtype(rstd, DType::f32, "rmsnorm: rstd");
  VPMOE_CHECK(w.numel() == C, std::string(op) + ": w must be [C]: " + w.str());
  VPMOE_CHECK(rstd.numel() == rows, std::string(op) + ": rstd must be [rows]: " + rstd.str());
  VPMOE_CHECK(rows < (std::int64_t(1) << 31), std::string(op) + ": too many rows");
}

}  // namespace

void rmsnorm_forward(const Tensor& x, const Tensor& w, float eps, Tensor& y, Tensor& rstd) {
  std::int64_t rows, C;
  check_rms(x, w, rstd, rows, C, "rmsnorm_forward");
  check_same_shape(x, y, "rmsnorm_forward");
  Launch L(x);
  if (rows == 0 || C == 0) return;
  dispatch_float(x.dtype(), "rmsnorm_forward", [&](auto tx) {
    using TX = decltype(tx);
    dispatch_float(y.dtype(), "rmsnorm_forward", [&](auto ty) {
      using TY = decltype(ty);
      bool vec = C % kVec == 0 && aligned16(x.data()) && aligned16(y.data()) &&
                 (C * sizeof(TX)) % 16 == 0 && (C * sizeof(TY)) % 16 == 0;
      int threads = row_threads(vec ? C / kVec : C);
      rms_fwd_kernel<<<unsigned(rows), threads, 0, L.stream>>>(
          C, x.data_as<const TX>(), w.data_as<const float>(), eps, y.data_as<TY>(),
          rstd.data_as<float>(), vec);
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  });
}

void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd,
                      Tensor& dx, Tensor& dw) {
  std::int64_t rows, C;
  check_rms(x, w, rstd, rows, C, "rmsnorm_backward");
  check_same_shape(x, dy, "rmsnorm_backward");
  check_same_shape(x, dx, "rmsnorm_backward");
  VPMOE_CHECK(dx.dtype() == x.dtype(), "rmsnorm_backward: dx must have the dtype of x");
  check_dtype(dw, DType::f32, "rmsnorm_backward: dw");
  VPMOE_CHECK(dw.numel() == C, "rmsnorm_backward: dw must be [C]");
  Launch L(x);
  if (rows == 0 || C == 0) return;
  dispatch_float(x.dtype(), "rmsnorm_backward", [&](auto tx) {
    using TX = decltype(tx);
    dispatch_float(dy.dtype(), "rmsnorm_backward", [&](auto td) {
      using TD = decltype(td);
      // dw first: dx may alias dy.
      colsum::column_sum(L, x.device(), rows, C,
                         DwTerm<TX, TD>{dy.data_as<const TD>(), x.data_as<const TX>(),
                                        rstd.data_as<const float>(), C},
                         dw.data_as<float>(), true, "rmsnorm_backward");
      rms_bwd_kernel<<<unsigned(rows), row_threads(C), 0, L.stream>>>(
          C, dy.data_as<const TD>(), x.data_as<const TX>(), w.data_as<const float>(),
          rstd.data_as<const float>(), dx.data_as<TX>());
      VPMOE_CUDA_LAUNCH_CHECK();
    });
  });
}

}  // namespace vpmoe::ops::cuda
