// Core attention, the fp32 reference: one (b, h, i) row at a time, sums in double, scores
// only over the allowed keys (the window, the causal limit) so no [T, T] matrix exists.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"

namespace vpmoe::ops::cpu {

using detail::check_f32;

namespace {

struct Dims {
  std::int64_t B, Tq, Tk, nh, ng, d, per_group;
  std::int64_t q_off;  // key index of query 0 (decode); 0 in training
};

void check_args(const Dims& d, const AttentionArgs& a, const char* op) {
  for (const Tensor* t : {&a.slopes, &a.sink})
    if (t->defined()) {
      check_f32(*t, std::string(op) + ": slopes/sink");
      if (t->numel() != d.nh)
        throw Error(std::string(op) + ": slopes and sink must be [nh], got " + t->str());
    }
  if (a.window < 0) throw Error(std::string(op) + ": window must be >= 0");
}

// q [B, Tq, nh, d], k and v [B, Tk, ng, d].
Dims attention_dims(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                    bool same_length, const char* op) {
  check_f32(q, std::string(op) + ": q");
  check_f32(k, std::string(op) + ": k");
  check_f32(v, std::string(op) + ": v");
  if (q.ndim() != 4 || k.ndim() != 4)
    throw Error(std::string(op) + ": q and k must be [B, T, heads, d], got " + q.str() + ", " +
                k.str());
  Dims d{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), 0, 0};
  if (k.size(0) != d.B || (same_length && d.Tk != d.Tq) || k.size(3) != d.d || d.ng == 0 ||
      d.nh % d.ng != 0)
    throw Error(std::string(op) + ": k must be [B, T, ng, d] with ng dividing nh: q " + q.str() +
                ", k " + k.str());
  check_shape(v, k.shape(), (std::string(op) + ": v").c_str());
  check_args(d, a, op);
  d.per_group = d.nh / d.ng;
  return d;
}

// The first key query position i may see.
std::int64_t first_key(std::int64_t i, std::int64_t window) {
  return window > 0 ? std::max<std::int64_t>(0, i - window + 1) : 0;
}

// Scores of row (b, h, i) into s[0 .. p - j0] with p = q_off + i its key index; returns j0.
std::int64_t row_scores(const Dims& d, const float* q, const float* k, const AttentionArgs& a,
                        const float* slopes, std::int64_t b, std::int64_t h, std::int64_t i,
                        std::vector<double>& s) {
  const std::int64_t g = h / d.per_group, p = d.q_off + i, j0 = first_key(p, a.window);
  const float* qi = q + ((b * d.Tq + i) * d.nh + h) * d.d;
  s.resize(std::size_t(p - j0 + 1));
  for (std::int64_t j = j0; j <= p; ++j) {
    const float* kj = k + ((b * d.Tk + j) * d.ng + g) * d.d;
    double dot = 0;
    for (std::int64_t c = 0; c < d.d; ++c) dot += double(qi[c]) * kj[c];
    s[std::size_t(j - j0)] =
        double(a.scale) * dot - (slopes ? double(slopes[h]) * double(p - j) : 0);
  }
  return j0;
}

// The forward rows: out [B, Tq, nh, d]; lse [B, nh, Tq] when given.
void forward_rows(const Dims& d, const Tensor& q, const Tensor& k, const Tensor& v,
                  const AttentionArgs& a, Tensor& out, float* pl) {
  const float *pq = q.data_as<const float>(), *pk = k.data_as<const float>(),
              *pv = v.data_as<const float>();
  const float* slopes = a.slopes.defined() ? a.slopes.data_as<const float>() : nullptr;
  const float* sink = a.sink.defined() ? a.sink.data_as<const float>() : nullptr;
  float* po = out.data_as<float>();
  detail::parallel_for(d.B * d.nh, d.Tq * d.Tk * d.d, [&](std::int64_t r0, std::int64_t r1) {
    std::vector<double> s, acc(std::size_t(d.d));
    for (std::int64_t r = r0; r < r1; ++r) {
      const std::int64_t b = r / d.nh, h = r % d.nh, g = h / d.per_group;
      for (std::int64_t i = 0; i < d.Tq; ++i) {
        const std::int64_t j0 = row_scores(d, pq, pk, a, slopes, b, h, i, s), p = d.q_off + i;
        double m = sink ? double(sink[h]) : -std::numeric_limits<double>::infinity();
        for (double x : s) m = std::max(m, x);
        double denom = sink ? std::exp(double(sink[h]) - m) : 0.0;
        for (double& x : s) denom += (x = std::exp(x - m));
        std::fill(acc.begin(), acc.end(), 0.0);
        for (std::int64_t j = j0; j <= p; ++j) {
          const float* vj = pv + ((b * d.Tk + j) * d.ng + g) * d.d;
          const double pj = s[std::size_t(j - j0)] / denom;
          for (std::int64_t c = 0; c < d.d; ++c) acc[std::size_t(c)] += pj * vj[c];
        }
        float* oi = po + ((b * d.Tq + i) * d.nh + h) * d.d;
        for (std::int64_t c = 0; c < d.d; ++c) oi[c] = float(acc[std::size_t(c)]);
        if (pl) pl[(b * d.nh + h) * d.Tq + i] = float(m + std::log(denom));
      }
    }
  });
}

}  // namespace

void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                       Tensor& out, Tensor& lse) {
  const Dims d = attention_dims(q, k, v, a, true, "attention_forward");
  check_shape(out, q.shape(), "attention_forward: out");
  check_f32(lse, "attention_forward: lse");
  check_shape(lse, {d.B, d.nh, d.Tq}, "attention_forward: lse");
  forward_rows(d, q, k, v, a, out, lse.data_as<float>());
}

void attention_decode(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionArgs& a,
                      std::int64_t q_offset, Tensor& out) {
  Dims d = attention_dims(q, k, v, a, false, "attention_decode");
  check_shape(out, q.shape(), "attention_decode: out");
  check_f32(out, "attention_decode: out");
  if (q_offset < 0 || q_offset + d.Tq > d.Tk)
    throw Error("attention_decode: " + std::to_string(d.Tq) + " queries at key index " +
                std::to_string(q_offset) + " need at least " + std::to_string(q_offset + d.Tq) +
                " keys, k is " + k.str());
  d.q_off = q_offset;
  forward_rows(d, q, k, v, a, out, nullptr);
}

void attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& lse, const AttentionArgs& a, Tensor& dq,
                        Tensor& dk, Tensor& dv, Tensor& dsink) {
  const Dims d = attention_dims(q, k, v, a, true, "attention_backward");
  for (const Tensor* t : {&dout, &out, static_cast<const Tensor*>(&dq)})
    check_shape(*t, q.shape(), "attention_backward");
  for (const Tensor* t : {static_cast<const Tensor*>(&dk), static_cast<const Tensor*>(&dv)})
    check_shape(*t, k.shape(), "attention_backward");
  check_shape(lse, {d.B, d.nh, d.Tq}, "attention_backward: lse");
  if (dsink.defined() && (!a.sink.defined() || dsink.numel() != d.nh))
    throw Error("attention_backward: dsink needs a sink and must be [nh], got " + dsink.str());
  const float *pq = q.data_as<const float>(), *pk = k.data_as<const float>(),
              *pv = v.data_as<const float>(), *pg = dout.data_as<const float>(),
              *po = out.data_as<const float>(), *pl = lse.data_as<const float>();
  const float* slopes = a.slopes.defined() ? a.slopes.data_as<const float>() : nullptr;
  const float* sink = a.sink.defined() ? a.sink.data_as<const float>() : nullptr;
  // dk and dv collect from every query head of their group: accumulate in double, in a fixed
  // order (single thread per batch row keeps it deterministic and simple).
  std::vector<double> gq(std::size_t(q.numel()), 0.0), gk(std::size_t(k.numel()), 0.0),
      gv(std::size_t(k.numel()), 0.0), gs(std::size_t(d.nh), 0.0);
  std::vector<double> s;
  for (std::int64_t b = 0; b < d.B; ++b)
    for (std::int64_t h = 0; h < d.nh; ++h) {
      const std::int64_t g = h / d.per_group;
      for (std::int64_t i = 0; i < d.Tq; ++i) {
        const std::int64_t j0 = row_scores(d, pq, pk, a, slopes, b, h, i, s);
        const double l = pl[(b * d.nh + h) * d.Tq + i];
        const std::int64_t qi = ((b * d.Tq + i) * d.nh + h) * d.d;
        double D = 0;  // dO_i . o_i
        for (std::int64_t c = 0; c < d.d; ++c) D += double(pg[qi + c]) * po[qi + c];
        if (sink) gs[std::size_t(h)] -= std::exp(double(sink[h]) - l) * D;
        for (std::int64_t j = j0; j <= i; ++j) {
          const std::int64_t kj = ((b * d.Tk + j) * d.ng + g) * d.d;
          const double p = std::exp(s[std::size_t(j - j0)] - l);
          double gij = 0;  // dO_i . v_j
          for (std::int64_t c = 0; c < d.d; ++c) gij += double(pg[qi + c]) * pv[kj + c];
          const double ds = p * (gij - D) * a.scale;
          for (std::int64_t c = 0; c < d.d; ++c) {
            gq[std::size_t(qi + c)] += ds * pk[kj + c];
            gk[std::size_t(kj + c)] += ds * pq[qi + c];
            gv[std::size_t(kj + c)] += p * pg[qi + c];
          }
        }
      }
    }
  auto store = [](const std::vector<double>& src, Tensor& dst) {
    float* p = dst.data_as<float>();
    for (std::size_t i = 0; i < src.size(); ++i) p[i] = float(src[i]);
  };
  store(gq, dq);
  store(gk, dk);
  store(gv, dv);
  if (dsink.defined()) {
    float* p = dsink.data_as<float>();
    for (std::int64_t h = 0; h < d.nh; ++h) p[h] += float(gs[std::size_t(h)]);
  }
}

}  // namespace vpmoe::ops::cpu
