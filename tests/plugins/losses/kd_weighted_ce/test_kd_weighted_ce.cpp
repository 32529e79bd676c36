// loss.kd_weighted_ce: w_t = clip(exp((teacher_logp[t] - m) / T), w_min, w_max) and
// L = w_r mean_t(w_t CE_t over reasoning) + w_f mean_t(w_t CE_t over final), the means dividing
// by the spans' label counts, against a double-precision reference written from the formulas
// over several steps of the running mean m (and with a fixed m); a step not taken does not move
// m; the state saved and restored gives the next step's weights bit for bit; the gradient by
// finite differences; data without teacher values refused; the plugin.
#include "kd_weighted_ce_loss.h"
#include "loss_checks.h"

namespace vpmoe::testing {
namespace {

constexpr std::int64_t H = 6, V = 11;

struct Params {
  double wr = 0.4, wf = 1.2, T = 0.7, wmin = 0.3, wmax = 2.5;
};

const char* kSection =
    "reasoning_weight = 0.4\nfinal_weight = 1.2\nkd_temperature = 0.7\nkd_weight_min = 0.3\n"
    "kd_weight_max = 2.5\n";

bool counted(const MicroBatch& b, std::int64_t i) {
  return b.mask[std::size_t(i)] > 0 && (b.span[std::size_t(i)] == 1 || b.span[std::size_t(i)] == 2);
}

// The running mean after `steps` (each a list of micro-batches): every counted label with a
// teacher value of those steps.
double running_mean(const std::vector<std::vector<MicroBatch>>& steps) {
  double s = 0, n = 0;
  for (const auto& step : steps)
    for (const auto& b : step)
      for (std::int64_t i = 0; i < b.N; ++i)
        if (counted(b, i) && std::isfinite(b.teacher_logp[std::size_t(i)]))
          s += b.teacher_logp[std::size_t(i)], n += 1;
  return s / n;
}

// The formulas, in double, for one step at center m.
double reference(const std::vector<MicroBatch>& mbs, const Vec& W, double m, const Params& p) {
  double sr = 0, nr = 0, sf = 0, nf = 0;
  for (const auto& b : mbs) {
    const Vec ce = ce_rows(Vec(b.h.begin(), b.h.end()), W, b.targets, H);
    for (std::int64_t i = 0; i < b.N; ++i) {
      if (!counted(b, i)) continue;
      const double lp = b.teacher_logp[std::size_t(i)];
      const double wt = std::clamp(std::exp(((std::isnan(lp) ? m : lp) - m) / p.T), p.wmin, p.wmax);
      if (b.span[std::size_t(i)] == 1) sr += wt * ce[std::size_t(i)], nr += 1;
      if (b.span[std::size_t(i)] == 2) sf += wt * ce[std::size_t(i)], nf += 1;
    }
  }
  return (nr > 0 ? p.wr * sr / nr : 0.0) + (nf > 0 ? p.wf * sf / nf : 0.0);
}

TEST(LossKdWeightedCe, ThreeStepsMatchTheFormulasWithTheRunningMean) {
  std::mt19937 g(1);
  const auto W = randn(g, V * H);
  const Vec Wd(W.begin(), W.end());
  const Config c = loss_config(kSection);
  losses::KdWeightedCeLoss loss(c.loss);
  std::vector<std::vector<MicroBatch>> seen;
  for (int s = 0; s < 3; ++s) {
    std::vector<MicroBatch> mbs{random_batch(g, 16, H, V), random_batch(g, 16, H, V)};
    seen.push_back(mbs);
    const auto w = step_weights(loss, mbs);
    const double m = running_mean(seen);
    EXPECT_NEAR(loss.center(), m, 1e-12) << "step " << s;
    const double want = reference(mbs, Wd, m, Params{});
    EXPECT_NEAR(objective(mbs, w, Wd), want, 1e-6 * want) << "step " << s;
    loss.end_step();
  }
}

TEST(LossKdWeightedCe, AFixedCenter) {
  std::mt19937 g(2);
  const auto W = randn(g, V * H);
  const Vec Wd(W.begin(), W.end());
  const Config c = loss_config(std::string(kSection) + "kd_center = -1.5\n");
  losses::KdWeightedCeLoss loss(c.loss);
  for (int s = 0; s < 2; ++s) {
    std::vector<MicroBatch> mbs{random_batch(g, 16, H, V)};
    const auto w = step_weights(loss, mbs);
    EXPECT_EQ(loss.center(), -1.5);
    const double want = reference(mbs, Wd, -1.5, Params{});
    EXPECT_NEAR(objective(mbs, w, Wd), want, 1e-6 * want);
    loss.end_step();
  }
}

// Weights are clipped: a very confident and a very unsure teacher hit the bounds.
TEST(LossKdWeightedCe, WeightsAreClipped) {
  const Config c = loss_config(std::string(kSection) + "kd_center = -2\n");
  losses::KdWeightedCeLoss loss(c.loss);
  EXPECT_DOUBLE_EQ(loss.token_weight(0.f, -2), 2.5);
  EXPECT_DOUBLE_EQ(loss.token_weight(-20.f, -2), 0.3);
  EXPECT_DOUBLE_EQ(loss.token_weight(-2.f, -2), 1.0);
  EXPECT_DOUBLE_EQ(loss.token_weight(std::numeric_limits<float>::quiet_NaN(), -2), 1.0);
  EXPECT_DOUBLE_EQ(loss.token_weight(-2.35f, -2), std::exp((double(-2.35f) + 2) / 0.7));
}

// A re-run calls begin_step again with the same totals; a skipped step never calls end_step:
// neither moves the running mean.
TEST(LossKdWeightedCe, OnlyStepsTakenMoveTheRunningMean) {
  std::mt19937 g(3);
  const Config c = loss_config(kSection);
  losses::KdWeightedCeLoss loss(c.loss);
  const std::vector<MicroBatch> a{random_batch(g, 16, H, V)}, b{random_batch(g, 16, H, V)};
  step_weights(loss, a);
  step_weights(loss, a);  // re-run
  loss.end_step();
  step_weights(loss, b);  // skipped: no end_step
  step_weights(loss, b);
  EXPECT_NEAR(loss.center(), running_mean({a, b}), 1e-12);
  double n = 0;  // only a's labels are in the state
  for (std::int64_t i = 0; i < a[0].N; ++i)
    n += counted(a[0], i) && std::isfinite(a[0].teacher_logp[std::size_t(i)]) ? 1 : 0;
  EXPECT_EQ(loss.state().at("teacher_logp_count"), n);
}

TEST(LossKdWeightedCe, StateRestoresTheNextStepBitForBit) {
  std::mt19937 g(4);
  const Config c = loss_config(kSection);
  losses::KdWeightedCeLoss a(c.loss), b(c.loss);
  for (int s = 0; s < 2; ++s) {
    step_weights(a, {random_batch(g, 16, H, V), random_batch(g, 16, H, V)});
    a.end_step();
  }
  b.load_state(a.state());
  EXPECT_EQ(b.state(), a.state());
  const std::vector<MicroBatch> next{random_batch(g, 16, H, V), random_batch(g, 16, H, V)};
  const auto wa = step_weights(a, next), wb = step_weights(b, next);
  EXPECT_EQ(a.center(), b.center());
  EXPECT_EQ(wa, wb);
  EXPECT_THROW(b.load_state({{"teacher_logp_sum", 1.0}}), Error);
}

TEST(LossKdWeightedCe, GradientMatchesFiniteDifferences) {
  std::mt19937 g(5);
  const auto W = randn(g, V * H);
  const Config c = loss_config(kSection);
  losses::KdWeightedCeLoss loss(c.loss);
  std::vector<MicroBatch> mbs{random_batch(g, 12, H, V), random_batch(g, 12, H, V)};
  const auto w = step_weights(loss, mbs);
  expect_gradients_match_finite_differences(mbs[1], w[1], W, V);
}

TEST(LossKdWeightedCe, DataWithoutTeacherValuesIsRefused) {
  const Config c = loss_config();
  losses::KdWeightedCeLoss loss(c.loss);
  EXPECT_NO_THROW(loss.check_inputs(true, true));
  EXPECT_THROW(loss.check_inputs(false, true), Error);
  try {
    loss.check_inputs(true, false);
    FAIL() << "no teacher_logp sidecar was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("PREFIX_teacher_logp"), std::string::npos) << e.what();
  }
}

TEST(LossKdWeightedCe, PluginRegistersTheName) {
  expect_plugin_registers(VPMOE_LOSS_KD_WEIGHTED_CE_PLUGIN, "loss.kd_weighted_ce");
}

}  // namespace
}  // namespace vpmoe::testing
