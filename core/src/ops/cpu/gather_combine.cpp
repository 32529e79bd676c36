// Row gather and the weighted k-row combine of the MoE token permutation (f32).
#include <string>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {
namespace {

void check_src(const Tensor& src, const char* op) {
  detail::check_f32(src, std::string(op) + ": src");
  if (src.ndim() != 2) throw Error(std::string(op) + ": src must be [V, C], got " + src.str());
}

void check_slots(const Tensor& idx, const char* op) {
  if (idx.ndim() != 2) throw Error(std::string(op) + ": idx must be [N, k], got " + idx.str());
}

}  // namespace

void gather_rows(const Tensor& src, const Tensor& idx, const Tensor& scale, Tensor& out) {
  check_src(src, "gather_rows");
  const std::int64_t C = src.size(1), M = idx.numel();
  const std::int32_t* id = detail::check_ids(idx, src.size(0), "gather_rows");
  detail::check_f32(out, "gather_rows: out");
  check_shape(out, {M, C}, "gather_rows: out");
  const float* sc = nullptr;
  if (scale.defined()) {
    detail::check_f32(scale, "gather_rows: scale");
    detail::check_numel(scale, M, "gather_rows: scale");
    sc = scale.data_as<const float>();
  }
  const float* s = src.data_as<const float>();
  float* o = out.data_as<float>();
  detail::parallel_for(M, C, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const float* row = s + std::int64_t(id[r]) * C;
      const float f = sc ? sc[r] : 1.f;
      for (std::int64_t c = 0; c < C; ++c) o[r * C + c] = f * row[c];
    }
  });
}

void combine_rows(const Tensor& src, const Tensor& idx, const Tensor& w, Tensor& out) {
  check_src(src, "combine_rows");
  check_slots(idx, "combine_rows");
  const std::int64_t C = src.size(1), N = idx.size(0), k = idx.size(1);
  const std::int32_t* id = detail::check_ids(idx, src.size(0), "combine_rows");
  detail::check_f32(out, "combine_rows: out");
  check_shape(out, {N, C}, "combine_rows: out");
  const float* pw = nullptr;
  if (w.defined()) {
    detail::check_f32(w, "combine_rows: w");
    check_shape(w, {N, k}, "combine_rows: w");
    pw = w.data_as<const float>();
  }
  const float* s = src.data_as<const float>();
  float* o = out.data_as<float>();
  detail::parallel_for(N, C * k, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t)
      for (std::int64_t c = 0; c < C; ++c) {
        float acc = 0.f;
        for (std::int64_t i = 0; i < k; ++i)
          acc += (pw ? pw[t * k + i] : 1.f) * s[std::int64_t(id[t * k + i]) * C + c];
        o[t * C + c] = acc;
      }
  });
}

void combine_rows_weight_grad(const Tensor& dout, const Tensor& src, const Tensor& idx,
                              Tensor& dw) {
  check_src(src, "combine_rows_weight_grad");
  check_slots(idx, "combine_rows_weight_grad");
  const std::int64_t C = src.size(1), N = idx.size(0), k = idx.size(1);
  const std::int32_t* id = detail::check_ids(idx, src.size(0), "combine_rows_weight_grad");
  detail::check_f32(dout, "combine_rows_weight_grad: dout");
  check_shape(dout, {N, C}, "combine_rows_weight_grad: dout");
  detail::check_f32(dw, "combine_rows_weight_grad: dw");
  check_shape(dw, {N, k}, "combine_rows_weight_grad: dw");
  const float *s = src.data_as<const float>(), *g = dout.data_as<const float>();
  float* o = dw.data_as<float>();
  detail::parallel_for(N, C * k, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t)
      for (std::int64_t i = 0; i < k; ++i) {
        const float* row = s + std::int64_t(id[t * k + i]) * C;
        float acc = 0.f;
        for (std::int64_t c = 0; c < C; ++c) acc += g[t * C + c] * row[c];
        o[t * k + i] = acc;
      }
  });
}

}  // namespace vpmoe::ops::cpu
