// CPU passes of the NorMuon step; norms accumulate in double. Tensors on CUDA go to the
// kernels in normuon_kernels.cu.
#include <cmath>

#include "normuon_kernels.h"
#include "vpmoe/error.h"
#include "vpmoe/version.h"

namespace vpmoe::normuon {

void nesterov_momentum(Tensor& g, Tensor& m, float mu) {
  if (g.device().is_cuda()) return cuda::nesterov_momentum(g, m, mu);
  float *pg = g.data_as<float>(), *pm = m.data_as<float>();
  for (std::int64_t i = 0, n = g.numel(); i < n; ++i) {
    pm[i] = mu * pm[i] + (1.f - mu) * pg[i];
    pg[i] = (1.f - mu) * pg[i] + mu * pm[i];
  }
}

void frobenius_normalize(Tensor& x, float factor, float eps) {
  if (x.device().is_cuda()) return cuda::frobenius_normalize(x, factor, eps);
  const std::int64_t B = x.size(0), per = x.numel() / (B ? B : 1);
  for (std::int64_t b = 0; b < B; ++b) {
    float* p = x.data_as<float>() + b * per;
    double ss = 0;
    for (std::int64_t i = 0; i < per; ++i) ss += double(p[i]) * p[i];
    const float inv = float(1.0 / (std::sqrt(ss) * factor + eps));
    for (std::int64_t i = 0; i < per; ++i) p[i] *= inv;
  }
}

void neuron_normalize(Tensor& o, Tensor& v, float beta2, float eps) {
  if (o.device().is_cuda()) return cuda::neuron_normalize(o, v, beta2, eps);
  const std::int64_t B = o.size(0), m = o.size(1), n = o.size(2);
  std::vector<float> scale(static_cast<std::size_t>(m));
  for (std::int64_t b = 0; b < B; ++b) {
    float* p = o.data_as<float>() + b * m * n;
    float* vb = v.data_as<float>() + b * m;
    double norm_o = 0, norm_s = 0;
    for (std::int64_t i = 0; i < m; ++i) {
      double ss = 0;
      for (std::int64_t j = 0; j < n; ++j) ss += double(p[i * n + j]) * p[i * n + j];
      const float r = float(ss / double(n));
      vb[i] = beta2 * vb[i] + (1.f - beta2) * r;
      scale[std::size_t(i)] = 1.f / std::sqrt(vb[i] + eps);
      norm_o += ss;
      norm_s += ss * double(scale[std::size_t(i)]) * scale[std::size_t(i)];
    }
    const double ratio = std::sqrt(norm_o) / std::max(std::sqrt(norm_s), double(eps));
    for (std::int64_t i = 0; i < m; ++i) {
      const float f = float(double(scale[std::size_t(i)]) * ratio);
      for (std::int64_t j = 0; j < n; ++j) p[i * n + j] *= f;
    }
  }
}

#if !VPMOE_HAS_CUDA
namespace cuda {
[[noreturn]] static void no_cuda() {
  throw Error("optimizer.normuon: this build has no CUDA parts");
}
void nesterov_momentum(Tensor&, Tensor&, float) {
  no_cuda();
}
void frobenius_normalize(Tensor&, float, float) {
  no_cuda();
}
void neuron_normalize(Tensor&, Tensor&, float, float) {
  no_cuda();
}
}  // namespace cuda
#endif

}  // namespace vpmoe::normuon
