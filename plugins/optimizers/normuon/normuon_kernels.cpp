// CPU passes of the NorMuon step (f32, norms in double). Tensors on CUDA go to
// normuon_kernels.cu.
#include <cmath>
#include <vector>

#include "normuon_kernels.h"
#include "vpmoe/error.h"
#include "vpmoe/version.h"

namespace vpmoe::normuon {
namespace {

void check_f32(const Tensor& t, const char* what) {
  if (t.dtype() != DType::f32)
    throw Error(std::string("optimizer.normuon: ") + what + " must be f32 on the CPU, got " +
                t.str());
}

}  // namespace

Tensor sumsq_buffer(std::int64_t matrices, std::int64_t per_matrix, Device d) {
  const std::int64_t pieces = d.is_cuda() ? cuda::sumsq_pieces(per_matrix) : 1;
  return Tensor::empty({matrices, pieces}, DType::i64, d);  // doubles
}

void nesterov_momentum(const std::vector<Tensor>& grads, Tensor& m, Tensor& u, float mu,
                       Tensor* sumsq, float grad_scale) {
  if (m.device().is_cuda()) return cuda::nesterov_momentum(grads, m, u, mu, sumsq, grad_scale);
  check_f32(u, "nesterov_momentum output");
  const std::int64_t B = m.size(0), per = B ? m.numel() / B : 0;
  std::int64_t first = 0;
  for (const Tensor& g : grads) {
    const std::int64_t count = per ? g.numel() / per : 0;
    if (first + count > B) throw Error("optimizer.normuon: grads overrun the bucket");
    const float* pg = g.data_as<const float>();
    float *pm = m.data_as<float>() + first * per, *pu = u.data_as<float>() + first * per;
    for (std::int64_t i = 0, n = g.numel(); i < n; ++i) {
      const float gi = pg[i] * grad_scale;
      pm[i] = mu * pm[i] + (1.f - mu) * gi;
      pu[i] = (1.f - mu) * gi + mu * pm[i];
    }
    first += count;
  }
  if (first != B) throw Error("optimizer.normuon: grads do not fill the bucket");
  if (sumsq) sumsq->copy_from(sumsq_of(u));
}

void nesterov_momentum(const Tensor& g, Tensor& m, Tensor& u, float mu, Tensor* sumsq) {
  const std::int64_t rows = g.size(-2), cols = g.size(-1);
  Tensor mv = m.view({-1, rows, cols}), uv = u.view({-1, rows, cols});
  nesterov_momentum(std::vector<Tensor>{g}, mv, uv, mu, sumsq);
}

Tensor sumsq_of(const Tensor& u) {
  if (u.device().is_cuda()) return cuda::sumsq_of(u);
  check_f32(u, "sumsq_of input");
  const std::int64_t B = u.size(0), per = B ? u.numel() / B : 0;
  Tensor out = sumsq_buffer(B, per, u.device());
  const float* pu = u.data_as<const float>();
  for (std::int64_t b = 0; b < B; ++b) {
    double ss = 0;
    for (std::int64_t i = 0; i < per; ++i) ss += double(pu[b * per + i]) * pu[b * per + i];
    out.data_as<double>()[b] = ss;
  }
  return out;
}

Tensor frobenius_scales(const Tensor& sumsq, float factor, float eps) {
  if (sumsq.device().is_cuda()) return cuda::frobenius_scales(sumsq, factor, eps);
  const std::int64_t B = sumsq.size(0), pieces = sumsq.size(1);
  Tensor out = Tensor::empty({B}, DType::f32, sumsq.device());
  for (std::int64_t b = 0; b < B; ++b) {
    double ss = 0;
    for (std::int64_t c = 0; c < pieces; ++c) ss += sumsq.data_as<const double>()[b * pieces + c];
    out.data_as<float>()[b] = float(1.0 / (std::sqrt(ss) * factor + eps));
  }
  return out;
}

void frobenius_normalize(const Tensor& in, Tensor& out, float factor, float eps,
                         const Tensor* sumsq) {
  if (in.device().is_cuda()) return cuda::frobenius_normalize(in, out, factor, eps, sumsq);
  check_f32(in, "frobenius_normalize input");
  check_f32(out, "frobenius_normalize output");
  const Tensor scale = frobenius_scales(sumsq ? *sumsq : sumsq_of(in), factor, eps);
  const std::int64_t B = in.size(0), per = in.numel() / (B ? B : 1);
  for (std::int64_t b = 0; b < B; ++b) {
    const float* p = in.data_as<const float>() + b * per;
    float* q = out.data_as<float>() + b * per;
    const float inv = scale.data_as<const float>()[b];
    for (std::int64_t i = 0; i < per; ++i) q[i] = p[i] * inv;
  }
}

void polynomial(const Tensor& a, const Tensor& a2, Tensor& out, float ca, float cb, float cc,
                const Tensor* scale) {
  if (a.device().is_cuda()) return cuda::polynomial(a, a2, out, ca, cb, cc, scale);
  check_f32(a, "polynomial input");
  const std::int64_t B = a.size(0), k = a.size(1), kk = k * k;
  const float *pa = a.data_as<const float>(), *p2 = a2.data_as<const float>();
  float* po = out.data_as<float>();
  for (std::int64_t b = 0; b < B; ++b) {
    float sa = ca, sb = cb, sc = cc;
    if (scale) {
      const double s = scale->data_as<const float>()[b], s2 = s * s;
      sa = float(ca * s), sb = float(cb * s * s2), sc = float(cc * s * s2 * s2);
    }
    for (std::int64_t i = b * kk; i < (b + 1) * kk; ++i)
      po[i] = ((i / k) % k == i % k ? sa : 0.f) + sb * pa[i] + sc * p2[i];
  }
}

Tensor neuron_factors(const Tensor& o, Tensor& v, float beta2, float eps) {
  if (o.device().is_cuda()) return cuda::neuron_factors(o, v, beta2, eps);
  check_f32(o, "neuron_normalize input");
  const std::int64_t B = o.size(0), m = o.size(1), n = o.size(2);
  Tensor f = Tensor::empty({B * m}, DType::f32);
  std::vector<float> scale(static_cast<std::size_t>(m));
  for (std::int64_t b = 0; b < B; ++b) {
    const float* p = o.data_as<const float>() + b * m * n;
    float* fb = f.data_as<float>() + b * m;
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
    for (std::int64_t i = 0; i < m; ++i) fb[i] = float(double(scale[std::size_t(i)]) * ratio);
  }
  return f;
}

void scale_rows(const Tensor& o, const Tensor& f, Tensor& out) {
  if (o.device().is_cuda()) return cuda::scale_rows(o, f, out);
  check_f32(o, "scale_rows input");
  const std::int64_t rows = f.numel(), n = rows ? o.numel() / rows : 0;
  const float *p = o.data_as<const float>(), *pf = f.data_as<const float>();
  float* q = out.data_as<float>();
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < n; ++j) q[i * n + j] = p[i * n + j] * pf[i];
}

void neuron_normalize(const Tensor& o, Tensor& out, Tensor& v, float beta2, float eps) {
  scale_rows(o, neuron_factors(o, v, beta2, eps), out);
}

void apply_update(Tensor& w, const Tensor& u, float decay, float step, Tensor& compute) {
  if (w.device().is_cuda()) return cuda::apply_update(w, u, decay, step, compute);
  float* pw = w.data_as<float>();
  const float* pu = u.data_as<const float>();
  for (std::int64_t i = 0, n = w.numel(); i < n; ++i) pw[i] = pw[i] * decay - step * pu[i];
  if (compute.defined() && compute.data() != w.data())
    throw Error("optimizer.normuon: separate compute weights on the CPU");
}

void apply_scaled_update(std::vector<UpdateTarget>& targets, const Tensor& o, const Tensor& f,
                         float step) {
  if (o.device().is_cuda()) return cuda::apply_scaled_update(targets, o, f, step);
  check_f32(o, "apply_scaled_update input");
  const std::int64_t rows = f.numel(), n = rows ? o.numel() / rows : 0;
  const float *p = o.data_as<const float>(), *pf = f.data_as<const float>();
  std::int64_t row0 = 0;
  for (UpdateTarget& t : targets) {
    if (t.compute.defined() && t.compute.data() != t.w.data())
      throw Error("optimizer.normuon: separate compute weights on the CPU");
    const std::int64_t trows = n ? t.w.numel() / n : 0;
    if (row0 + trows > rows) throw Error("optimizer.normuon: update targets overrun the bucket");
    float* pw = t.w.data_as<float>();
    for (std::int64_t i = 0; i < trows; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        const float s = p[(row0 + i) * n + j] * pf[row0 + i];
        pw[i * n + j] = pw[i * n + j] * t.decay - step * s;
      }
    row0 += trows;
  }
  if (row0 != rows) throw Error("optimizer.normuon: update targets do not fill the bucket");
}

void apply_scaled_update(Tensor& w, const Tensor& o, const Tensor& f, float decay, float step,
                         Tensor& compute) {
  std::vector<UpdateTarget> t{UpdateTarget{w, compute, decay}};
  apply_scaled_update(t, o, f, step);
}

#if !VPMOE_HAS_CUDA
namespace cuda {
[[noreturn]] static void no_cuda() {
  throw Error("optimizer.normuon: this build has no CUDA parts");
}
std::int64_t sumsq_pieces(std::int64_t) {
  no_cuda();
}
void nesterov_momentum(const std::vector<Tensor>&, Tensor&, Tensor&, float, Tensor*, float) {
  no_cuda();
}
Tensor sumsq_of(const Tensor&) {
  no_cuda();
}
Tensor frobenius_scales(const Tensor&, float, float) {
  no_cuda();
}
void frobenius_normalize(const Tensor&, Tensor&, float, float, const Tensor*) {
  no_cuda();
}
void polynomial(const Tensor&, const Tensor&, Tensor&, float, float, float, const Tensor*) {
  no_cuda();
}
Tensor neuron_factors(const Tensor&, Tensor&, float, float) {
  no_cuda();
}
void scale_rows(const Tensor&, const Tensor&, Tensor&) {
  no_cuda();
}
void apply_update(Tensor&, const Tensor&, float, float, Tensor&) {
  no_cuda();
}
void apply_scaled_update(std::vector<UpdateTarget>&, const Tensor&, const Tensor&, float) {
  no_cuda();
}
}  // namespace cuda
#endif

}  // namespace vpmoe::normuon
