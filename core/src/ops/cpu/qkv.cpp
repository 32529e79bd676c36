// Fused QKV layout and the value residual, the fp32 reference.
#include <cmath>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"
#include "ops/qkv_layout.h"

namespace vpmoe::ops::cpu {

using detail::check_f32;

namespace {

// Calls f(qkv offset, part pointer offset) for every d-vector: part 0 = q, 1 = k, 2 = v.
template <class F>
void for_each_head(const ops::detail::QkvDims& d, F&& f) {
  const std::int64_t pg = d.nh / d.ng, per_group = (pg + 2) * d.d;
  for (std::int64_t r = 0; r < d.rows; ++r)
    for (std::int64_t g = 0; g < d.ng; ++g) {
      const std::int64_t base = (r * d.ng + g) * per_group;
      for (std::int64_t j = 0; j < pg; ++j) f(base + j * d.d, 0, (r * d.nh + g * pg + j) * d.d);
      f(base + pg * d.d, 1, (r * d.ng + g) * d.d);
      f(base + (pg + 1) * d.d, 2, (r * d.ng + g) * d.d);
    }
}

}  // namespace

void qkv_split(const Tensor& qkv, Tensor& q, Tensor& k, Tensor& v) {
  for (const Tensor* t : {&qkv, static_cast<const Tensor*>(&q), static_cast<const Tensor*>(&k),
                          static_cast<const Tensor*>(&v)})
    check_f32(*t, "qkv_split");
  const auto d = ops::detail::qkv_dims(qkv, q, k, v, "qkv_split");
  const float* src = qkv.data_as<const float>();
  float* dst[3] = {q.data_as<float>(), k.data_as<float>(), v.data_as<float>()};
  for_each_head(d, [&](std::int64_t at, int part, std::int64_t to) {
    std::copy(src + at, src + at + d.d, dst[part] + to);
  });
}

void qkv_merge(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& qkv) {
  for (const Tensor* t : {static_cast<const Tensor*>(&qkv), &q, &k, &v}) check_f32(*t, "qkv_merge");
  const auto d = ops::detail::qkv_dims(qkv, q, k, v, "qkv_merge");
  const float* src[3] = {q.data_as<const float>(), k.data_as<const float>(),
                         v.data_as<const float>()};
  float* dst = qkv.data_as<float>();
  for_each_head(d, [&](std::int64_t at, int part, std::int64_t from) {
    std::copy(src[part] + from, src[part] + from + d.d, dst + at);
  });
}

namespace {
double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}
}  // namespace

void value_residual_forward(const Tensor& v, const Tensor& v1, const Tensor& theta, Tensor& out) {
  for (const Tensor* t : {&v, &v1, &theta, static_cast<const Tensor*>(&out)})
    check_f32(*t, "value_residual_forward");
  ops::detail::value_residual_check(v, v1, theta, out, "value_residual_forward");
  const float lambda = float(sigmoid(theta.data_as<const float>()[0]));
  const float *pv = v.data_as<const float>(), *p1 = v1.data_as<const float>();
  float* po = out.data_as<float>();
  for (std::int64_t i = 0; i < v.numel(); ++i) po[i] = lambda * pv[i] + (1.f - lambda) * p1[i];
}

void value_residual_backward(const Tensor& dv, const Tensor& v, const Tensor& v1,
                             const Tensor& theta, Tensor& dv_raw, Tensor& dv1, Tensor& dtheta) {
  for (const Tensor* t : {&dv, &v, &v1, &theta, static_cast<const Tensor*>(&dv_raw),
                          static_cast<const Tensor*>(&dv1), static_cast<const Tensor*>(&dtheta)})
    check_f32(*t, "value_residual_backward");
  ops::detail::value_residual_check(v, v1, theta, dv, "value_residual_backward");
  check_shape(dv_raw, v.shape(), "value_residual_backward: dv_raw");
  check_shape(dv1, v.shape(), "value_residual_backward: dv1");
  VPMOE_CHECK(dtheta.numel() == 1, "value_residual_backward: dtheta must hold one element");
  const double lambda = sigmoid(theta.data_as<const float>()[0]);
  const float *pg = dv.data_as<const float>(), *pv = v.data_as<const float>(),
              *p1 = v1.data_as<const float>();
  float *praw = dv_raw.data_as<float>(), *pd1 = dv1.data_as<float>();
  double dot = 0;
  for (std::int64_t i = 0; i < v.numel(); ++i) {
    const double g = pg[i];  // dv_raw may alias dv
    dot += (double(pv[i]) - p1[i]) * g;
    praw[i] = float(lambda * g);
    pd1[i] += float((1.0 - lambda) * g);
  }
  dtheta.data_as<float>()[0] += float(lambda * (1.0 - lambda) * dot);
}

}  // namespace vpmoe::ops::cpu
