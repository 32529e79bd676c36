// Trainer: k micro-batches accumulate the same gradients as one batch k times larger (fp32
// CPU, tight tolerance), a non-finite step is skipped (no update, the MoE counts dropped) and
// too many in a row stop the run naming the key, and steps on a fixed batch drive the loss down
// with the metrics filled in.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "host/train/trainer_fixture.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

TEST(Trainer, MicroBatchesAccumulateTheGradientOfOneLargerBatch) {
  TinyRun one, two;
  FixedSource big(4, 4), halves(2, 4);
  const StepMetrics a = one.trainer.accumulate(big, 1), b = two.trainer.accumulate(halves, 2);
  EXPECT_NEAR(a.loss, b.loss, 1e-6);
  EXPECT_NEAR(a.aux_loss, b.aux_loss, 1e-9);
  EXPECT_EQ(a.tokens, b.tokens);
  const auto pa = one.model->parameters(), pb = two.model->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const std::vector<float> ga = pa[i]->grad.to_floats(), gb = pb[i]->grad.to_floats();
    double num = 0, den = 0;
    for (std::size_t j = 0; j < ga.size(); ++j)
      num += (double(ga[j]) - gb[j]) * (double(ga[j]) - gb[j]), den += double(ga[j]) * ga[j];
    EXPECT_LE(std::sqrt(num), 1e-5 * std::sqrt(den) + 1e-12) << pa[i]->name;
  }
}

TEST(Trainer, NonFiniteStepsAreSkippedAndTooManyStopTheRun) {
  TinyRun r;
  FixedSource data(2, 2);
  Parameter* norm = nullptr;
  for (Parameter* p : r.model->parameters())
    if (p->name == "final_norm") norm = p;
  ASSERT_NE(norm, nullptr);
  ops::fill(norm->value, std::numeric_limits<float>::quiet_NaN());
  const Parameter* out = r.model->parameters().back();
  const std::vector<float> before = out->value.to_floats();
  for (int s = 0; s < 2; ++s) {
    const StepMetrics m = r.trainer.step(data, 1);
    EXPECT_TRUE(m.skipped) << s;
  }
  EXPECT_EQ(out->value.to_floats(), before) << "no update on skipped steps";
  EXPECT_EQ(r.trainer.updates(), 0);
  EXPECT_EQ(r.trainer.skipped_total(), 2);
  for (auto& layer : r.model->layers())
    if (auto* moe = dynamic_cast<moe::MoeLayer*>(&layer->ffn()))
      for (std::int64_t n : moe->step_counts()) EXPECT_EQ(n, 0) << "counts dropped";
  try {
    r.trainer.step(data, 1);
    ADD_FAILURE() << "a third skipped step in a row did not stop the run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_consecutive_skipped = 2"), std::string::npos)
        << e.what();
  }
}

TEST(Trainer, StepsOnAFixedBatchDriveTheLossDown) {
  TinyRun r;
  FixedSource data(2, 2);
  const StepMetrics first = r.trainer.step(data, 2);
  StepMetrics last;
  for (int s = 1; s < 30; ++s) last = r.trainer.step(data, 2);
  EXPECT_LT(last.loss, 0.5 * first.loss) << first.loss << " -> " << last.loss;
  EXPECT_EQ(r.trainer.updates(), 30);
  EXPECT_EQ(last.iteration, 29);
  EXPECT_EQ(last.tokens, 2 * 2 * FixedSource::T);
  EXPECT_DOUBLE_EQ(last.lr, 0.02);
  EXPECT_GT(last.grad_norm, 0.0);
  EXPECT_GT(last.aux_loss, 0.0);
  EXPECT_GE(last.load.max, last.load.min);
  EXPECT_GT(last.load.max, 0);
}

TEST(MockSource, IsDeterministicAndShiftsTargets) {
  MockSource a(50, 2, 6, 9, Device::cpu()), b(50, 2, 6, 9, Device::cpu());
  const Batch x = a.next(), y = b.next(), z = a.next();
  EXPECT_EQ(x.ids.to_floats(), y.ids.to_floats());
  EXPECT_NE(x.ids.to_floats(), z.ids.to_floats());
  const std::vector<float> ids = x.ids.to_floats(), t = x.targets.to_floats();
  for (int i = 0; i + 1 < 6; ++i) EXPECT_EQ(t[std::size_t(i)], ids[std::size_t(i + 1)]);
  for (float v : ids) EXPECT_TRUE(v >= 0 && v < 50);
}

}  // namespace
}  // namespace vpmoe::testing
