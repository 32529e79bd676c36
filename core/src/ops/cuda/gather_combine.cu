// Row gather and the weighted k-row combine of the MoE token permutation: one block per output
// row, 16-byte accesses when rows allow, fp32 accumulation in slot order (deterministic).
#include "ops/cuda/common.cuh"
#include "ops/cuda/cuda_ops.h"

namespace vpmoe::ops::cuda {
namespace {

// Rows are moved as packs of kVec elements when every row start is 16-byte aligned.
bool vectorizable(std::int64_t C, std::initializer_list<const Tensor*> ts) {
  if (C % kVec != 0) return false;
  for (const Tensor* t : ts)
    if (t->defined() && !aligned16(t->data())) return false;
  return true;
}

int threads_for(std::int64_t C, bool vec) {
  std::int64_t per = vec ? C / kVec : C;
  std::int64_t t = (per + 31) / 32 * 32;
  return int(t < 32 ? 32 : (t > 256 ? 256 : t));
}

template <class T>
__device__ __forceinline__ void load(const T* p, float (&v)[kVec]) {
  const Pack<T> q = *reinterpret_cast<const Pack<T>*>(p);
#pragma unroll
  for (int j = 0; j < kVec; ++j) v[j] = to_f(q.v[j]);
}
template <class T>
__device__ __forceinline__ void store(T* p, const float (&v)[kVec]) {
  Pack<T> q;
#pragma unroll
  for (int j = 0; j < kVec; ++j) q.v[j] = from_f<T>(v[j]);
  *reinterpret_cast<Pack<T>*>(p) = q;
}

template <class TS, class TO, bool Vec>
__global__ void gather_kernel(std::int64_t C, std::int64_t V, const std::int32_t* idx,
                              const float* scale, const TS* src, TO* out) {
  const std::int64_t r = blockIdx.x;
  const std::int32_t id = idx[r];
  TO* o = out + r * C;
  const bool bad = id < 0 || id >= V;  // shows as NaN rather than reading out of bounds
  const float f = bad ? NAN : (scale ? scale[r] : 1.f);
  const TS* s = src + (bad ? 0 : std::int64_t(id)) * C;
  if constexpr (Vec) {
    for (std::int64_t c = std::int64_t(threadIdx.x) * kVec; c < C; c += blockDim.x * kVec) {
      float v[kVec];
      load(s + c, v);
#pragma unroll
      for (int j = 0; j < kVec; ++j) v[j] *= f;
      store(o + c, v);
    }
  } else {
    for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = from_f<TO>(f * to_f(s[c]));
  }
}

template <class TS, class TO, bool Vec>
__global__ void combine_kernel(std::int64_t C, std::int64_t V, int k, const std::int32_t* idx,
                               const float* w, const TS* src, TO* out) {
  const std::int64_t t = blockIdx.x;
  const std::int32_t* id = idx + t * k;
  TO* o = out + t * C;
  const std::int64_t step = Vec ? std::int64_t(blockDim.x) * kVec : blockDim.x;
  for (std::int64_t c = std::int64_t(threadIdx.x) * (Vec ? kVec : 1); c < C; c += step) {
    float acc[kVec] = {};
    for (int i = 0; i < k; ++i) {
      const std::int32_t r = id[i];
      const bool bad = r < 0 || r >= V;
      const float f = bad ? NAN : (w ? w[t * k + i] : 1.f);
      const TS* s = src + (bad ? 0 : std::int64_t(r)) * C + c;
      if constexpr (Vec) {
        float v[kVec];
        load(s, v);
#pragma unroll
        for (int j = 0; j < kVec; ++j) acc[j] += f * v[j];
      } else {
        acc[0] += f * to_f(s[0]);
      }
    }
    if constexpr (Vec)
      store(o + c, acc);
    else
      o[c] = from_f<TO>(acc[0]);
  }
}

template <class TG, class TS, bool Vec>
__global__ void combine_wgrad_kernel(std::int64_t C, std::int64_t V, int k, const std::int32_t* idx,
                                     const TG* dout, const TS* src, float* dw) {
  const std::int64_t t = blockIdx.x;
  const TG* g = dout + t * C;
  for (int i = 0; i < k; ++i) {
    const std::int32_t r = idx[t * k + i];
    const bool bad = r < 0 || r >= V;
    const TS* s = src + (bad ? 0 : std::int64_t(r)) * C;
    float part = 0.f;
    if constexpr (Vec) {
      for (std::int64_t c = std::int64_t(threadIdx.x) * kVec; c < C; c += blockDim.x * kVec) {
        float a[kVec], b[kVec];
        load(g + c, a);
        load(s + c, b);
#pragma unroll
        for (int j = 0; j < kVec; ++j) part += a[j] * b[j];
      }
    } else {
      for (std::int64_t c = threadIdx.x; c < C; c += blockDim.x) part += to_f(g[c]) * to_f(s[c]);
    }
    const float total = block_sum(part);
    if (threadIdx.x == 0) dw[t * k + i] = bad ? NAN : total;
  }
}

void check_rows(const Tensor& t, const char* what) {
  check_cuda_tensor(t, what);
  VPMOE_CHECK(t.ndim() == 2, std::string(what) + " must be 2-D, got " + t.str());
}

// Calls f(TS{}, TO{}, std::bool_constant<Vec>{}) for the dtypes of a and b.
template <class F>
void dispatch2(const Tensor& a, const Tensor& b, bool vec, const char* op, F&& f) {
  dispatch_float(a.dtype(), op, [&](auto ta) {
    dispatch_float(b.dtype(), op, [&](auto tb) {
      if (vec)
        f(ta, tb, std::true_type{});
      else
        f(ta, tb, std::false_type{});
    });
  });
}

}  // namespace

void gather_rows(const Tensor& src, const Tensor& idx, const Tensor& scale, Tensor& out) {
  check_rows(src, "gather_rows: src");
  check_dtype(idx, DType::i32, "gather_rows: idx");
  const std::int64_t V = src.size(0), C = src.size(1), M = idx.numel();
  check_shape(out, {M, C}, "gather_rows: out");
  if (scale.defined()) {
    check_dtype(scale, DType::f32, "gather_rows: scale");
    VPMOE_CHECK(scale.numel() == M, "gather_rows: scale needs one value per row");
  }
  VPMOE_CHECK(M < (std::int64_t(1) << 31), "gather_rows: too many rows");
  Launch L(src);
  if (M == 0 || C == 0) return;
  const bool vec = vectorizable(C, {&src, &out});
  dispatch2(src, out, vec, "gather_rows", [&](auto ts, auto to, auto v) {
    using TS = decltype(ts);
    using TO = decltype(to);
    gather_kernel<TS, TO, decltype(v)::value><<<unsigned(M), threads_for(C, vec), 0, L.stream>>>(
        C, V, idx.data_as<const std::int32_t>(),
        scale.defined() ? scale.data_as<const float>() : nullptr, src.data_as<const TS>(),
        out.data_as<TO>());
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

void combine_rows(const Tensor& src, const Tensor& idx, const Tensor& w, Tensor& out) {
  check_rows(src, "combine_rows: src");
  check_dtype(idx, DType::i32, "combine_rows: idx");
  VPMOE_CHECK(idx.ndim() == 2, "combine_rows: idx must be [N, k], got " + idx.str());
  const std::int64_t V = src.size(0), C = src.size(1), N = idx.size(0), k = idx.size(1);
  check_shape(out, {N, C}, "combine_rows: out");
  if (w.defined()) {
    check_dtype(w, DType::f32, "combine_rows: w");
    check_shape(w, {N, k}, "combine_rows: w");
  }
  VPMOE_CHECK(N < (std::int64_t(1) << 31), "combine_rows: too many rows");
  Launch L(src);
  if (N == 0 || C == 0) return;
  const bool vec = vectorizable(C, {&src, &out});
  dispatch2(src, out, vec, "combine_rows", [&](auto ts, auto to, auto v) {
    using TS = decltype(ts);
    using TO = decltype(to);
    combine_kernel<TS, TO, decltype(v)::value><<<unsigned(N), threads_for(C, vec), 0, L.stream>>>(
        C, V, int(k), idx.data_as<const std::int32_t>(),
        w.defined() ? w.data_as<const float>() : nullptr, src.data_as<const TS>(),
        out.data_as<TO>());
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

void combine_rows_weight_grad(const Tensor& dout, const Tensor& src, const Tensor& idx,
                              Tensor& dw) {
  check_rows(src, "combine_rows_weight_grad: src");
  check_dtype(idx, DType::i32, "combine_rows_weight_grad: idx");
  VPMOE_CHECK(idx.ndim() == 2, "combine_rows_weight_grad: idx must be [N, k], got " + idx.str());
  const std::int64_t V = src.size(0), C = src.size(1), N = idx.size(0), k = idx.size(1);
  check_shape(dout, {N, C}, "combine_rows_weight_grad: dout");
  check_dtype(dw, DType::f32, "combine_rows_weight_grad: dw");
  check_shape(dw, {N, k}, "combine_rows_weight_grad: dw");
  VPMOE_CHECK(N < (std::int64_t(1) << 31), "combine_rows_weight_grad: too many rows");
  Launch L(src);
  if (N == 0 || k == 0) return;
  const bool vec = vectorizable(C, {&src, &dout});
  dispatch2(dout, src, vec, "combine_rows_weight_grad", [&](auto tg, auto ts, auto v) {
    using TG = decltype(tg);
    using TS = decltype(ts);
    combine_wgrad_kernel<TG, TS, decltype(v)::value>
        <<<unsigned(N), threads_for(C, vec), 0, L.stream>>>(
            C, V, int(k), idx.data_as<const std::int32_t>(), dout.data_as<const TG>(),
            src.data_as<const TS>(), dw.data_as<float>());
    VPMOE_CUDA_LAUNCH_CHECK();
  });
}

}  // namespace vpmoe::ops::cuda
