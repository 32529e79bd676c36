#pragma once
// Shared by the attention plugin tests: a whole attention layer in double precision, written
// from spec/attention.md (projection, fused-layout bias, QK-norm, rotation or ALiBi, value
// residual, softmax with offset, output projection) over named parameter values, plus
// helpers to read a module's parameters and compare its gradients with finite differences.
#include <cmath>
#include <map>
#include <string>

#include "core/ops_cpu/cpu_test_util.h"
#include "vpmoe/attention.h"
#include "vpmoe/config.h"

namespace vpmoe::testing {

using Params = std::map<std::string, Vec>;

struct RefShape {
  std::int64_t B = 2, T = 7, H = 32, nh = 4, ng = 2, d = 8;
  std::int64_t window = 0;  // 0: causal
  bool tpa = false;
  std::int64_t Rq = 3, R = 2;
  int layer = 2;
  std::string prefix() const { return "layers." + std::to_string(layer) + ".attention"; }
  std::string phi() const { return "layers." + std::to_string(layer) + ".positional.log_freq"; }
};

struct RefOptions {
  bool qk_norm = true, qkv_bias = true, out_bias = true;
  int softmax = 1;  // 0 vanilla, 1 learnable, 2 off-by-one
  bool value_residual = true;
  double eps = 1e-5;
  double log_freq_scale = 16.0;  // with a ".positional.log_freq" parameter: GRAPE-M
  Vec slopes;                    // ALiBi when not empty
};

inline double ref_sigmoid(double x) {
  return 1 / (1 + std::exp(-x));
}

// y [N, H] for x [N, H]; v1 [N, ng, d] is layer 1's values (used when mixing); v_raw gets
// this layer's values before mixing.
inline Vec reference_attention(const RefShape& s, const RefOptions& o, const Params& p,
                               const Vec& x, const Vec& v1, Vec* v_raw = nullptr) {
  const std::int64_t N = s.B * s.T, nh = s.nh, ng = s.ng, d = s.d, H = s.H, pg = nh / ng;
  auto P = [&](const std::string& n) -> const Vec& { return p.at(s.prefix() + "." + n); };
  auto has = [&](const std::string& n) { return p.count(s.prefix() + "." + n) > 0; };
  Vec q(std::size_t(N * nh * d)), k(std::size_t(N * ng * d)), v(std::size_t(N * ng * d));
  // Linear map row j of weight w [rows, H] applied to token n.
  auto lin = [&](const Vec& w, std::int64_t j, std::int64_t n) {
    double a = 0;
    for (std::int64_t c = 0; c < H; ++c) a += w[std::size_t(j * H + c)] * x[std::size_t(n * H + c)];
    return a;
  };
  for (std::int64_t n = 0; n < N; ++n) {
    if (s.tpa) {
      auto assemble = [&](const char* which, std::int64_t heads, std::int64_t rank, Vec& out) {
        const Vec &A = P(std::string("tpa.a_") + which), &Bm = P(std::string("tpa.b_") + which);
        for (std::int64_t h = 0; h < heads; ++h)
          for (std::int64_t e = 0; e < d; ++e) {
            double acc = 0;
            for (std::int64_t r = 0; r < rank; ++r)
              acc += lin(A, h * rank + r, n) * lin(Bm, r * d + e, n);
            out[std::size_t((n * heads + h) * d + e)] = acc / double(rank);
          }
      };
      assemble("q", nh, s.Rq, q);
      assemble("k", ng, s.R, k);
      assemble("v", ng, s.R, v);
    } else {
      const Vec& W = P("w_qkv");
      for (std::int64_t g = 0; g < ng; ++g)
        for (std::int64_t slot = 0; slot < pg + 2; ++slot)
          for (std::int64_t e = 0; e < d; ++e) {
            const double a = lin(W, (g * (pg + 2) + slot) * d + e, n);
            if (slot < pg)
              q[std::size_t((n * nh + g * pg + slot) * d + e)] = a;
            else
              (slot == pg ? k : v)[std::size_t((n * ng + g) * d + e)] = a;
          }
    }
    if (o.qkv_bias) {
      const Vec& b = P("qkv_bias");
      for (std::int64_t g = 0; g < ng; ++g)
        for (std::int64_t slot = 0; slot < pg + 2; ++slot)
          for (std::int64_t e = 0; e < d; ++e) {
            const double a = b[std::size_t((g * (pg + 2) + slot) * d + e)];
            if (slot < pg)
              q[std::size_t((n * nh + g * pg + slot) * d + e)] += a;
            else
              (slot == pg ? k : v)[std::size_t((n * ng + g) * d + e)] += a;
          }
    }
  }
  auto norm = [&](Vec& t, const Vec& w) {
    for (std::size_t r = 0; r < t.size() / std::size_t(d); ++r) {
      double ms = 0;
      for (std::int64_t e = 0; e < d; ++e) ms += t[r * d + e] * t[r * d + e];
      const double rstd = 1 / std::sqrt(ms / double(d) + o.eps);
      for (std::int64_t e = 0; e < d; ++e) t[r * d + e] *= rstd * w[std::size_t(e)];
    }
  };
  if (o.qk_norm) norm(q, P("q_norm")), norm(k, P("k_norm"));
  if (p.count(s.phi())) {
    Vec omega = p.at(s.phi());
    for (double& w : omega) w = std::exp(w / o.log_freq_scale);
    auto rotate = [&](Vec& t, std::int64_t heads) {
      const std::int64_t half = d / 2;
      for (std::size_t r = 0; r < t.size() / std::size_t(d); ++r) {
        const std::int64_t pos = std::int64_t(r) / heads % s.T;
        for (std::int64_t m = 0; m < half; ++m) {
          const double th = double(pos) * omega[std::size_t(m)];
          const double a = t[r * d + m], b = t[r * d + m + half];
          t[r * d + m] = a * std::cos(th) - b * std::sin(th);
          t[r * d + m + half] = b * std::cos(th) + a * std::sin(th);
        }
      }
    };
    rotate(q, nh), rotate(k, ng);
  }
  if (v_raw) *v_raw = v;
  if (has("value_residual_logit")) {
    const double lam = ref_sigmoid(P("value_residual_logit")[0]);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = lam * v[i] + (1 - lam) * v1[i];
  }
  // Core attention.
  Vec att(std::size_t(N * nh * d), 0.0);
  const double scale = 1 / std::sqrt(double(d));
  for (std::int64_t b = 0; b < s.B; ++b)
    for (std::int64_t h = 0; h < nh; ++h)
      for (std::int64_t i = 0; i < s.T; ++i) {
        const std::int64_t g = h / pg,
                           j0 = s.window > 0 ? std::max<std::int64_t>(0, i - s.window + 1) : 0;
        Vec sc;
        for (std::int64_t j = j0; j <= i; ++j) {
          double dot = 0;
          for (std::int64_t e = 0; e < d; ++e)
            dot += q[std::size_t(((b * s.T + i) * nh + h) * d + e)] *
                   k[std::size_t(((b * s.T + j) * ng + g) * d + e)];
          sc.push_back(scale * dot -
                       (o.slopes.empty() ? 0.0 : o.slopes[std::size_t(h)] * double(i - j)));
        }
        double den = o.softmax == 1 ? std::exp(P("softmax_offset")[std::size_t(h)])
                                    : (o.softmax == 2 ? 1.0 : 0.0);
        for (double z : sc) den += std::exp(z);
        for (std::int64_t j = j0; j <= i; ++j) {
          const double pij = std::exp(sc[std::size_t(j - j0)]) / den;
          for (std::int64_t e = 0; e < d; ++e)
            att[std::size_t(((b * s.T + i) * nh + h) * d + e)] +=
                pij * v[std::size_t(((b * s.T + j) * ng + g) * d + e)];
        }
      }
  Vec y(std::size_t(N * H));
  const Vec& Wo = P("w_o");
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < H; ++c) {
      double a = o.out_bias ? P("b_o")[std::size_t(c)] : 0.0;
      for (std::int64_t j = 0; j < nh * d; ++j)
        a += Wo[std::size_t(c * nh * d + j)] * att[std::size_t(n * nh * d + j)];
      y[std::size_t(n * H + c)] = a;
    }
  return y;
}

// The module's parameter values by name; randomises every one (including the biases and
// norm scales that start at 0 / 1) so that each path is exercised.
inline Params randomise_parameters(Module& m, std::mt19937& g, float spread = 0.5f) {
  Params out;
  for (Parameter* p : m.parameters()) {
    std::vector<float> v = randn(g, p->value.numel(), -spread, spread);
    if (p->role == ParamRole::norm)
      for (float& x : v) x += 1.f;
    if (p->name.find("value_residual_logit") != std::string::npos) v[0] = 0.7f;
    if (p->name.find("log_freq") != std::string::npos) {
      // Keep GRAPE-M's spectrum (rotations of order one over the test's few positions).
      v = p->value.to_floats();
      for (float& x : v) x += randn(g, 1, -0.5f, 0.5f)[0];
    }
    p->value.copy_from(Tensor::from_floats(v, p->value.shape(), DType::f32));
    p->sync_compute();
    out[p->name] = Vec(v.begin(), v.end());
  }
  return out;
}

// Finite differences of loss(params) for up to `samples` entries of each parameter, compared
// with the module's accumulated grads.
inline void expect_param_grads(Module& m, const Params& params,
                               const std::function<double(const Params&)>& loss, double tol,
                               std::size_t samples = 12) {
  for (Parameter* p : m.parameters()) {
    const Vec& v0 = params.at(p->name);
    std::vector<std::size_t> at;
    const std::size_t step = std::max<std::size_t>(1, v0.size() / samples);
    for (std::size_t i = 0; i < v0.size(); i += step) at.push_back(i);
    const Vec fd = fd_grad_at(
        [&](const Vec& v) {
          Params q = params;
          q[p->name] = v;
          return loss(q);
        },
        v0, at, 1e-6);
    const std::vector<float> got = p->grad.to_floats();
    std::vector<float> got_at;
    for (std::size_t i : at) got_at.push_back(got[i]);
    expect_close(got_at, fd, tol, "grad of " + p->name);
  }
}

}  // namespace vpmoe::testing
