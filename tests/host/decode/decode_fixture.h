#pragma once
// The models the decode tests run: configs/tiny.toml (TPA + GRAPE-M on local layers with a
// window of 16, GQA + GRAPE-A on the global one, learnable softmax offsets, value residual,
// MoE with a shared expert) at a small vocabulary, and variants of its positional and softmax
// options; parameters spread wider than the init so that attention is far from uniform and
// every layer's value-residual mix matters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "host/train/tiny_model.h"
#include "train/model_builder.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {

struct Variant {
  std::string name;
  std::string positional_local = "positional.grape_m", positional_global = "positional.grape_a";
  std::string softmax = "learnable";
  bool value_residual = true;
  int skip_freq = 4;  // every n-th layer global
};

inline Config decode_config(const Variant& v) {
  Config c = load_config(std::string(VPMOE_SOURCE_DIR) + "/configs/tiny.toml");
  c.tokenizer.vocab_size = 384;
  c.plugins.positional_local = v.positional_local;
  c.plugins.positional_global = v.positional_global;
  c.model.softmax_type = v.softmax;
  c.model.value_residual = v.value_residual;
  c.attention.window_attn_skip_freq = v.skip_freq;
  return c;
}

// Values that make every part count: matrices N(0, 0.15), the embedding N(0, 1), norm scales
// in [0.5, 1.5], biases N(0, 0.1), softmax offsets and value-residual logits N(0, 1).
inline void spread_parameters(model::GptModel& m, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n01(0.f, 1.f);
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  for (Parameter* p : m.parameters()) {
    if (p->name.find("log_freq") != std::string::npos) continue;  // keep RoPE's spectrum
    std::vector<float> v = p->value.to_floats();
    for (float& x : v) {
      switch (p->role) {
        case ParamRole::norm:
          x = u(g);
          break;
        case ParamRole::bias:
          x = 0.1f * n01(g);
          break;
        case ParamRole::vector:
          x = n01(g);
          break;
        case ParamRole::embedding:
          x = n01(g);
          break;
        default:
          x = 0.15f * n01(g);
      }
    }
    p->value.copy_from(Tensor::from_floats(v, p->value.shape(), DType::f32));
    p->sync_compute();
  }
}

inline Tensor random_ids(std::mt19937& g, std::int64_t B, std::int64_t T, std::int64_t V,
                         Device d) {
  std::uniform_int_distribution<int> u(0, int(V) - 1);
  std::vector<float> ids(std::size_t(B * T));
  for (float& x : ids) x = float(u(g));
  return Tensor::from_floats(ids, {B, T}, DType::i32, d);
}

// ids[:, t0:t1] as [B, t1 - t0].
inline Tensor id_columns(const Tensor& ids, std::int64_t t0, std::int64_t t1) {
  Tensor out = Tensor::empty({ids.size(0), t1 - t0}, DType::i32, ids.device());
  for (std::int64_t b = 0; b < ids.size(0); ++b)
    out.select(b).copy_from(ids.select(b).slice(t0, t1));
  return out;
}

// The training forward's logits [B, T, V] (host f32) and decode's, row by row: a prefill of
// p tokens (the row of its last token), then one token per step.
struct Logits {
  std::vector<float> v;
  std::int64_t T = 0, V = 0;
  const float* row(std::int64_t b, std::int64_t t) const { return v.data() + (b * T + t) * V; }
};

inline Logits forward_logits(model::GptModel& m, const Tensor& ids, Device d) {
  const std::int64_t B = ids.size(0), T = ids.size(1);
  const Tensor h = m.forward_hidden(Context{d, B, T, false}, ids.view({B * T}));
  const Tensor z = m.head_logits(h);
  return Logits{z.to_floats(), T, z.size(1)};
}

// Logits of rows p-1 .. T-1 (the others stay NaN) from prefill p + steps.
inline Logits decode_logits(model::GptModel& m, const Tensor& ids, std::int64_t p, Device d,
                            std::int64_t* bytes = nullptr) {
  const std::int64_t B = ids.size(0), T = ids.size(1);
  model::DecodeState s = m.make_decode_state(B, T);
  Logits out;
  out.T = T;
  for (std::int64_t t = 0; t < T;) {
    const std::int64_t n = t == 0 ? p : 1;
    const Tensor z = m.head_logits(m.decode(Context{d, B, n, false}, id_columns(ids, t, t + n), s));
    if (out.v.empty()) {
      out.V = z.size(1);
      out.v.assign(std::size_t(B * T * out.V), NAN);
    }
    const std::vector<float> zv = z.to_floats();
    for (std::int64_t b = 0; b < B; ++b)
      std::copy(zv.begin() + b * out.V, zv.begin() + (b + 1) * out.V,
                out.v.begin() + (b * T + t + n - 1) * out.V);
    t += n;
    EXPECT_EQ(s.position, t);
  }
  if (bytes) *bytes = s.bytes();
  return out;
}

// max |a - b| / max |b| over the rows t >= from.
inline double rel_diff(const Logits& a, const Logits& b, std::int64_t B, std::int64_t from) {
  double num = 0, den = 0;
  for (std::int64_t bb = 0; bb < B; ++bb)
    for (std::int64_t t = from; t < b.T; ++t)
      for (std::int64_t v = 0; v < b.V; ++v) {
        const double x = a.row(bb, t)[v], y = b.row(bb, t)[v];
        if (std::isnan(x)) return INFINITY;
        num = std::max(num, std::abs(x - y));
        den = std::max(den, std::abs(y));
      }
  return num / den;
}

}  // namespace vpmoe::testing
