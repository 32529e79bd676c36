// loss.span_ce: L = w_r mean(CE over reasoning) + w_f mean(CE over final), each mean over its
// own labels of the global batch, against a double-precision reference written from that
// formula; a span with no labels contributes 0; the gradient through the fused LM head by
// finite differences; data without spans refused; the plugin.
#include "loss_checks.h"
#include "span_ce_loss.h"

namespace vpmoe::testing {
namespace {

constexpr std::int64_t H = 6, V = 11;

// The formula, in double, straight from the batches.
double reference(const std::vector<MicroBatch>& mbs, const Vec& W, double wr, double wf) {
  double sr = 0, nr = 0, sf = 0, nf = 0;
  for (const auto& b : mbs) {
    const Vec ce = ce_rows(Vec(b.h.begin(), b.h.end()), W, b.targets, H);
    for (std::int64_t i = 0; i < b.N; ++i) {
      if (b.mask[std::size_t(i)] == 0) continue;
      if (b.span[std::size_t(i)] == 1) sr += ce[std::size_t(i)], nr += 1;
      if (b.span[std::size_t(i)] == 2) sf += ce[std::size_t(i)], nf += 1;
    }
  }
  return (nr > 0 ? wr * sr / nr : 0.0) + (nf > 0 ? wf * sf / nf : 0.0);
}

TEST(LossSpanCe, MatchesTheFormulaOverTheGlobalBatch) {
  std::mt19937 g(1);
  const auto W = randn(g, V * H);
  const Vec Wd(W.begin(), W.end());
  std::vector<MicroBatch> mbs;
  for (int m = 0; m < 3; ++m) mbs.push_back(random_batch(g, 16, H, V));
  const Config c = loss_config("reasoning_weight = 0.3\nfinal_weight = 1.7\n");
  losses::SpanCeLoss loss(c.loss);
  const auto w = step_weights(loss, mbs);
  const double want = reference(mbs, Wd, 0.3, 1.7);
  EXPECT_NEAR(objective(mbs, w, Wd), want, 1e-6 * want);
  // Prompt labels and masked-out labels weigh nothing.
  for (std::size_t m = 0; m < mbs.size(); ++m)
    for (std::int64_t i = 0; i < mbs[m].N; ++i)
      if (mbs[m].mask[std::size_t(i)] == 0 || mbs[m].span[std::size_t(i)] == 0)
        EXPECT_EQ(w[m][std::size_t(i)], 0.f);
  // The same labels cut into other micro-batches (another micro-batch or dp layout) give the
  // same objective: the means are over the global batch, not per micro-batch.
  MicroBatch all;
  all.N = 48, all.H = H;
  for (const auto& b : mbs) {
    all.h.insert(all.h.end(), b.h.begin(), b.h.end());
    all.targets.insert(all.targets.end(), b.targets.begin(), b.targets.end());
    all.mask.insert(all.mask.end(), b.mask.begin(), b.mask.end());
    all.span.insert(all.span.end(), b.span.begin(), b.span.end());
  }
  const auto w1 = step_weights(loss, {all});
  EXPECT_NEAR(objective({all}, w1, Wd), want, 1e-6 * want);
}

TEST(LossSpanCe, ASpanWithoutLabelsContributesZero) {
  std::mt19937 g(2);
  const auto W = randn(g, V * H);
  const Vec Wd(W.begin(), W.end());
  MicroBatch b = random_batch(g, 16, H, V);
  for (auto& s : b.span)
    if (s == 2) s = 0;  // no final labels
  const Config c = loss_config("reasoning_weight = 0.5\n");
  losses::SpanCeLoss loss(c.loss);
  const auto w = step_weights(loss, {b});
  const double want = reference({b}, Wd, 0.5, 1.0);
  EXPECT_NEAR(objective({b}, w, Wd), want, 1e-6 * want);
  for (float x : w[0]) EXPECT_TRUE(std::isfinite(x));
  // No labels in either span: every weight 0, no NaN.
  for (auto& s : b.span) s = 0;
  const auto none = step_weights(loss, {b});
  for (float x : none[0]) EXPECT_EQ(x, 0.f);
}

TEST(LossSpanCe, GradientMatchesFiniteDifferences) {
  std::mt19937 g(3);
  const auto W = randn(g, V * H);
  std::vector<MicroBatch> mbs{random_batch(g, 12, H, V), random_batch(g, 12, H, V)};
  const Config c = loss_config("reasoning_weight = 0.25\nfinal_weight = 2\n");
  losses::SpanCeLoss loss(c.loss);
  const auto w = step_weights(loss, mbs);
  expect_gradients_match_finite_differences(mbs[0], w[0], W, V);
}

TEST(LossSpanCe, DataWithoutSpansIsRefused) {
  const Config c = loss_config();
  losses::SpanCeLoss loss(c.loss);
  EXPECT_NO_THROW(loss.check_inputs(true, false));
  try {
    loss.check_inputs(false, true);
    FAIL() << "no span sidecar was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("loss.span_ce needs span labels"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("PREFIX_span"), std::string::npos) << e.what();
  }
}

TEST(LossSpanCe, PluginRegistersTheName) {
  expect_plugin_registers(VPMOE_LOSS_SPAN_CE_PLUGIN, "loss.span_ce");
}

}  // namespace
}  // namespace vpmoe::testing
