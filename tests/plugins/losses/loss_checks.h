#pragma once
// What the loss plugins' tests share: random micro-batches with side data, the objective
// sum_i w_i CE_i through the plugin's weights, and a double-precision LM head + CE to check it
// against the formulas of docs/training.md ("Objectives") and by finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "core/ops_cpu/cpu_test_util.h"
#include "registry/plugin_loader.h"
#include "vpmoe/config.h"
#include "vpmoe/loss.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {

// One micro-batch: N labels with hidden states h [N, H], targets, and side data.
struct MicroBatch {
  std::int64_t N = 0, H = 0;
  std::vector<float> h;
  std::vector<float> targets;
  std::vector<float> mask, teacher_logp;
  std::vector<std::uint8_t> span;
  LossInputs inputs() const { return LossInputs{N, mask, span, teacher_logp}; }
};

// Random labels: mask 0 on about a quarter, spans 0/1/2 (1 and 2 only where masked in, as
// the Harmony renderer gives them, plus a few span labels under a zero mask), teacher
// log-probabilities in [-6, 0] with a few NaN (no teacher value) when nan_logp.
inline MicroBatch random_batch(std::mt19937& g, std::int64_t N, std::int64_t H, std::int64_t V,
                               bool nan_logp = true) {
  MicroBatch b;
  b.N = N, b.H = H;
  b.h = randn(g, N * H, -1.f, 1.f);
  std::uniform_int_distribution<int> tok(0, int(V - 1)), four(0, 3), three(0, 2), ten(0, 9);
  std::uniform_real_distribution<float> lp(-6.f, 0.f);
  for (std::int64_t i = 0; i < N; ++i) {
    b.targets.push_back(float(tok(g)));
    b.mask.push_back(four(g) == 0 ? 0.f : 1.f);
    b.span.push_back(std::uint8_t(three(g)));
    b.teacher_logp.push_back(nan_logp && ten(g) == 0 ? std::numeric_limits<float>::quiet_NaN()
                                                     : lp(g));
  }
  return b;
}

// CE of every row of h W^T in double.
inline Vec ce_rows(const Vec& h, const Vec& w, const std::vector<float>& targets, std::int64_t H) {
  const std::int64_t N = std::int64_t(targets.size()), V = std::int64_t(w.size()) / H;
  Vec out(static_cast<std::size_t>(N));
  for (std::int64_t r = 0; r < N; ++r) {
    Vec z(static_cast<std::size_t>(V));
    double mx = -INFINITY;
    for (std::int64_t v = 0; v < V; ++v) {
      double s = 0;
      for (std::int64_t k = 0; k < H; ++k)
        s += h[std::size_t(r * H + k)] * w[std::size_t(v * H + k)];
      z[std::size_t(v)] = s, mx = std::max(mx, s);
    }
    double se = 0;
    for (double x : z) se += std::exp(x - mx);
    out[std::size_t(r)] = mx + std::log(se) - z[std::size_t(targets[std::size_t(r)])];
  }
  return out;
}

// The step protocol of vpmoe/loss.h over micro-batches of one rank: totals, begin_step, the
// weights of each.
inline std::vector<std::vector<float>> step_weights(Loss& loss,
                                                    const std::vector<MicroBatch>& mbs) {
  std::vector<double> totals(std::size_t(loss.num_totals()), 0.0);
  for (const auto& b : mbs) loss.add_totals(b.inputs(), totals);
  loss.begin_step(totals);
  std::vector<std::vector<float>> w;
  for (const auto& b : mbs) {
    w.emplace_back(std::size_t(b.N), -1.f);
    loss.weights(b.inputs(), w.back());
  }
  return w;
}

// sum_i w_i CE_i of the micro-batches in double (the weights as the plugin gave them).
inline double objective(const std::vector<MicroBatch>& mbs,
                        const std::vector<std::vector<float>>& w, const Vec& W) {
  double L = 0;
  for (std::size_t m = 0; m < mbs.size(); ++m) {
    const Vec ce = ce_rows(Vec(mbs[m].h.begin(), mbs[m].h.end()), W, mbs[m].targets, mbs[m].H);
    for (std::size_t i = 0; i < ce.size(); ++i) L += double(w[m][i]) * ce[i];
  }
  return L;
}

// The fused op's gradient of sum_i w_i CE_i w.r.t. h and W (f32, CPU) against central finite
// differences of the double objective, on one micro-batch; and its loss_sum against the
// double objective.
inline void expect_gradients_match_finite_differences(const MicroBatch& b,
                                                      const std::vector<float>& w,
                                                      const std::vector<float>& W, std::int64_t V) {
  const std::int64_t N = b.N, H = b.H;
  Tensor h = Tensor::from_floats(b.h, {N, H}, DType::f32);
  Tensor wt = Tensor::from_floats(W, {V, H}, DType::f32);
  Tensor tg = Tensor::from_floats(b.targets, {N}, DType::i32);
  Tensor dh = Tensor::zeros({N, H}, DType::f32), dw = Tensor::zeros({V, H}, DType::f32);
  std::vector<float> rows;
  const auto st = ops::linear_cross_entropy_weighted(h, wt, tg, w, 1.f, &dh, &dw, &rows, 5);
  const Vec Wd(W.begin(), W.end());
  auto f_h = [&](const Vec& hv) {
    const Vec ce = ce_rows(hv, Wd, b.targets, H);
    double L = 0;
    for (std::size_t i = 0; i < ce.size(); ++i) L += double(w[i]) * ce[i];
    return L;
  };
  auto f_w = [&](const Vec& wv) {
    const Vec ce = ce_rows(Vec(b.h.begin(), b.h.end()), wv, b.targets, H);
    double L = 0;
    for (std::size_t i = 0; i < ce.size(); ++i) L += double(w[i]) * ce[i];
    return L;
  };
  const Vec hd(b.h.begin(), b.h.end());
  EXPECT_NEAR(st.loss_sum, f_h(hd), 1e-5 * std::max(1.0, std::abs(f_h(hd))));
  expect_close(dh, fd_grad(f_h, hd), 2e-4, "dL/dh");
  expect_close(dw, fd_grad(f_w, Wd), 2e-4, "dL/dW");
  // The row losses are each label's CE, whatever its weight.
  expect_close(rows, ce_rows(hd, Wd, b.targets, H), 1e-5, "row losses");
}

inline Config loss_config(const std::string& loss_section = "") {
  return parse_config("[model]\n[loss]\n" + loss_section, "run.toml");
}

// The plugin file registers name, and builds it.
inline void expect_plugin_registers(const char* file, const std::string& name) {
  Registry reg;
  const auto report = load_plugins({file}, reg);
  ASSERT_TRUE(report.errors.empty()) << report.errors.front().message;
  const Config c = loss_config();
  BuildArgs a;
  a.config = &c;
  EXPECT_EQ(reg.create<Loss>(name, a)->spec_name(), name);
  EXPECT_EQ(reg.names_of_kind("loss"), std::vector<std::string>{name});
}

}  // namespace vpmoe::testing
