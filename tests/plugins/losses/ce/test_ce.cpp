// loss.ce: the loss-masked mean CE over the global batch (every micro-batch of the step)
// against a double-precision reference, its gradient through the fused LM head by finite
// differences, one micro-batch bit for bit as ops::linear_cross_entropy's masked mean, and the
// plugin.
#include "ce_loss.h"
#include "loss_checks.h"

namespace vpmoe::testing {
namespace {

constexpr std::int64_t H = 6, V = 11;

TEST(LossCe, MatchesTheMaskedMeanOverTheGlobalBatch) {
  std::mt19937 g(1);
  const auto W = randn(g, V * H);
  std::vector<MicroBatch> mbs;
  for (int m = 0; m < 3; ++m) mbs.push_back(random_batch(g, 16, H, V));
  losses::CeLoss loss;
  const auto w = step_weights(loss, mbs);
  double sum = 0, count = 0;
  for (const auto& b : mbs) {
    const Vec ce = ce_rows(Vec(b.h.begin(), b.h.end()), Vec(W.begin(), W.end()), b.targets, H);
    for (std::int64_t i = 0; i < b.N; ++i) sum += b.mask[std::size_t(i)] * ce[std::size_t(i)];
    for (float x : b.mask) count += x;
  }
  const double want = sum / count;
  EXPECT_NEAR(objective(mbs, w, Vec(W.begin(), W.end())), want, 1e-6 * want);
  for (std::size_t m = 0; m < mbs.size(); ++m)
    for (std::int64_t i = 0; i < mbs[m].N; ++i)
      EXPECT_EQ(w[m][std::size_t(i)], float(mbs[m].mask[std::size_t(i)] / count));
}

TEST(LossCe, GradientMatchesFiniteDifferences) {
  std::mt19937 g(2);
  const auto W = randn(g, V * H);
  std::vector<MicroBatch> mbs{random_batch(g, 12, H, V), random_batch(g, 12, H, V)};
  losses::CeLoss loss;
  const auto w = step_weights(loss, mbs);
  expect_gradients_match_finite_differences(mbs[1], w[1], W, V);
}

// One micro-batch: the weights give ops::linear_cross_entropy's masked mean and its gradient,
// bit for bit (the behaviour before the loss plugins).
TEST(LossCe, OneMicroBatchIsTheMaskedMeanBitForBit) {
  std::mt19937 g(3);
  const auto W = randn(g, V * H);
  const MicroBatch b = random_batch(g, 20, H, V);
  losses::CeLoss loss;
  const auto w = step_weights(loss, {b});
  Tensor h = Tensor::from_floats(b.h, {b.N, H}, DType::f32);
  Tensor wt = Tensor::from_floats(W, {V, H}, DType::f32);
  Tensor tg = Tensor::from_floats(b.targets, {b.N}, DType::i32);
  Tensor mask = Tensor::from_floats(b.mask, {b.N}, DType::f32);
  Tensor dh1 = Tensor::zeros({b.N, H}, DType::f32), dw1 = Tensor::zeros({V, H}, DType::f32);
  Tensor dh2 = Tensor::zeros({b.N, H}, DType::f32), dw2 = Tensor::zeros({V, H}, DType::f32);
  const auto mean = ops::linear_cross_entropy(h, wt, tg, mask, 1.f, &dh1, &dw1);
  const auto weighted = ops::linear_cross_entropy_weighted(h, wt, tg, w[0], 1.f, &dh2, &dw2);
  EXPECT_NEAR(weighted.loss_sum, mean.mean(), 1e-6 * mean.mean());
  EXPECT_EQ(dh1.to_floats(), dh2.to_floats());
  EXPECT_EQ(dw1.to_floats(), dw2.to_floats());
}

TEST(LossCe, NoMaskedInLabelGivesZeroWeights) {
  MicroBatch b;
  b.N = 4;
  b.mask.assign(4, 0.f);
  losses::CeLoss loss;
  const auto w = step_weights(loss, {b});
  EXPECT_EQ(w[0], std::vector<float>(4, 0.f));
  // Without a mask every label counts.
  MicroBatch all;
  all.N = 4;
  EXPECT_EQ(step_weights(loss, {all})[0], std::vector<float>(4, 0.25f));
}

TEST(LossCe, PluginRegistersTheName) {
  expect_plugin_registers(VPMOE_LOSS_CE_PLUGIN, "loss.ce");
}

}  // namespace
}  // namespace vpmoe::testing
