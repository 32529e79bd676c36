#pragma once
// Shared by the MoE tests: every parameter of a module set to fresh random values (returned by
// name, in double), and one FFN in double precision.
#include <map>
#include <random>
#include <string>

#include "core/ops_cpu/cpu_test_util.h"
#include "vpmoe/module.h"

namespace vpmoe::testing {

using Params = std::map<std::string, Vec>;

inline Params randomise(Module& m, std::mt19937& g) {
  Params out;
  for (Parameter* p : m.parameters()) {
    std::vector<float> v = randn(g, p->value.numel(), -0.5f, 0.5f);
    p->value.copy_from(Tensor::from_floats(v, p->value.shape(), DType::f32));
    p->sync_compute();
    out[p->name] = Vec(v.begin(), v.end());
  }
  return out;
}

// One FFN of spec/moe.md §1 in double for one token x [H]: W2 relu(W1 x + b1)^2 + b2, from the
// parameters named pre.w1/b1/w2/b2; with e >= 0 they are stacks and expert e is used.
inline Vec ffn_reference(const Params& p, const std::string& pre, std::int64_t e, std::int64_t F,
                         std::int64_t H, const double* x, bool bias = true) {
  const Vec &w1 = p.at(pre + ".w1"), &w2 = p.at(pre + ".w2");
  const std::size_t s = std::size_t(e < 0 ? 0 : e), o = s * std::size_t(F * H);
  Vec a(static_cast<std::size_t>(F)), y(static_cast<std::size_t>(H));
  for (std::int64_t f = 0; f < F; ++f) {
    double h = bias ? p.at(pre + ".b1")[s * std::size_t(F) + std::size_t(f)] : 0.0;
    for (std::int64_t c = 0; c < H; ++c) h += w1[o + std::size_t(f * H + c)] * x[c];
    a[std::size_t(f)] = h > 0 ? h * h : 0.0;
  }
  for (std::int64_t c = 0; c < H; ++c) {
    double v = bias ? p.at(pre + ".b2")[s * std::size_t(H) + std::size_t(c)] : 0.0;
    for (std::int64_t f = 0; f < F; ++f) v += w2[o + std::size_t(c * F + f)] * a[std::size_t(f)];
    y[std::size_t(c)] = v;
  }
  return y;
}

}  // namespace vpmoe::testing
