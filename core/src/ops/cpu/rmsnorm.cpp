// RMSNorm over the last dim; row reductions in double.
#include <cmath>
#include <string>
#include <vector>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {

using detail::check_f32;
using detail::check_numel;
using detail::cols_of;
using detail::rows_of;

void rmsnorm_forward(const Tensor& x, const Tensor& w, float eps, Tensor& y, Tensor& rstd) {
  check_f32(x, "rmsnorm_forward: x");
  check_f32(w, "rmsnorm_forward: w");
  check_f32(y, "rmsnorm_forward: y");
  check_f32(rstd, "rmsnorm_forward: rstd");
  if (x.ndim() < 1) throw Error("rmsnorm_forward: x needs a last dim, got " + x.str());
  std::int64_t C = cols_of(x), R = rows_of(x);
  check_numel(w, C, "rmsnorm_forward: w must be [C]");
  check_shape(y, x.shape(), "rmsnorm_forward: y");
  check_numel(rstd, R, "rmsnorm_forward: rstd must be [rows]");
  const float *px = x.data_as<const float>(), *pw = w.data_as<const float>();
  float *py = y.data_as<float>(), *pr = rstd.data_as<float>();
  detail::parallel_for(R, C, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* xr = px + r * C;
      double ss = 0;
      for (std::int64_t c = 0; c < C; ++c) ss += double(xr[c]) * xr[c];
      float rs = float(1.0 / std::sqrt(ss / double(C ? C : 1) + double(eps)));
      pr[r] = rs;
      for (std::int64_t c = 0; c < C; ++c) py[r * C + c] = xr[c] * rs * pw[c];
    }
  });
}

// With xh = x * rstd: dx = rstd * (dy*w - xh * mean(dy*w*xh)), dw += sum over rows dy * xh.
void rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd,
                      Tensor& dx, Tensor& dw) {
  check_f32(dy, "rmsnorm_backward: dy");
  check_f32(x, "rmsnorm_backward: x");
  check_f32(w, "rmsnorm_backward: w");
  check_f32(rstd, "rmsnorm_backward: rstd");
  check_f32(dx, "rmsnorm_backward: dx");
  check_f32(dw, "rmsnorm_backward: dw");
  if (x.ndim() < 1) throw Error("rmsnorm_backward: x needs a last dim, got " + x.str());
  std::int64_t C = cols_of(x), R = rows_of(x);
  check_shape(dy, x.shape(), "rmsnorm_backward: dy");
  check_shape(dx, x.shape(), "rmsnorm_backward: dx");
  check_numel(w, C, "rmsnorm_backward: w must be [C]");
  check_numel(dw, C, "rmsnorm_backward: dw must be [C]");
  check_numel(rstd, R, "rmsnorm_backward: rstd must be [rows]");
  const float *pdy = dy.data_as<const float>(), *px = x.data_as<const float>();
  const float *pw = w.data_as<const float>(), *pr = rstd.data_as<const float>();
  float *pdx = dx.data_as<float>(), *pdw = dw.data_as<float>();
  std::vector<double> dwacc(static_cast<std::size_t>(C), 0.0);
  for (std::int64_t r = 0; r < R; ++r) {
    const float *xr = px + r * C, *dyr = pdy + r * C;
    double rs = pr[r], dot = 0;
    for (std::int64_t c = 0; c < C; ++c) {
      double xh = xr[c] * rs;
      dot += double(dyr[c]) * pw[c] * xh;
      dwacc[c] += double(dyr[c]) * xh;
    }
    double m = dot / double(C);
    // dx may alias dy: every dy of the row is read above, and element c only reads dy[c] below.
    for (std::int64_t c = 0; c < C; ++c)
      pdx[r * C + c] = float(rs * (double(dyr[c]) * pw[c] - xr[c] * rs * m));
  }
  for (std::int64_t c = 0; c < C; ++c) pdw[c] = float(pdw[c] + dwacc[c]);
}

}  // namespace vpmoe::ops::cpu
