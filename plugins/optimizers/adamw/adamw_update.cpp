#include <cmath>

#include "adamw_update.h"
#include "vpmoe/error.h"
#include "vpmoe/version.h"

namespace vpmoe::adamw {

void update_cpu(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const UpdateArgs& a) {
  float *pw = w.data_as<float>(), *pm = m.data_as<float>(), *pv = v.data_as<float>();
  const float* pg = g.data_as<const float>();
  const float decay = 1.f - a.lr * a.wd;
  for (std::int64_t i = 0, n = w.numel(); i < n; ++i) {
    const float g = pg[i] * a.grad_scale;
    pm[i] = a.beta1 * pm[i] + (1.f - a.beta1) * g;
    pv[i] = a.beta2 * pv[i] + (1.f - a.beta2) * g * g;
    const float u = (pm[i] / a.bc1) / (std::sqrt(pv[i] / a.bc2) + a.eps);
    pw[i] = pw[i] * decay - a.lr * u;
  }
}

#if !VPMOE_HAS_CUDA
void update_cuda(Tensor&, const Tensor&, Tensor&, Tensor&, const UpdateArgs&, Tensor*) {
  throw Error("optimizer.adamw: this build has no CUDA parts");
}
#endif

}  // namespace vpmoe::adamw
