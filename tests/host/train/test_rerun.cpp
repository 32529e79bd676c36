// The step's re-run (train/rerun.h) on the tiny CPU model, with faults injected through the
// trainer's hook: a fault on the first attempt only (a poisoned grad, a poisoned loss, a spike)
// is a transient fault whose re-run is taken, and the run equals one without the fault bit for
// bit; a batch whose loss is bad every time is skipped and counted, its samples logged, and
// too many in a row stop the run. The spike reference follows Megatron's rule.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "host/train/trainer_fixture.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Steps {
  std::vector<StepMetrics> metrics;
  std::map<std::string, std::vector<float>> weights;  // parameters and module state
};

Steps train(TinyRun& r, int steps, FaultHook hook = nullptr) {
  r.trainer.set_fault_hook(std::move(hook));
  FixedSource data(2, 6);
  Steps out;
  for (int s = 0; s < steps; ++s) out.metrics.push_back(r.trainer.step(data, 2));
  for (Parameter* p : r.model->parameters()) out.weights[p->name] = p->value.to_floats();
  for (const auto& [k, t] : r.model->state()) out.weights["state/" + k] = t.to_floats();
  return out;
}

// The bits of every parameter and expert bias, and every step's loss, grad norm and MoE load
// (counts kept from a discarded attempt would double it; the bias update, by sign, would not
// see them).
void expect_same_run(const Steps& a, const Steps& b) {
  ASSERT_EQ(a.metrics.size(), b.metrics.size());
  for (std::size_t s = 0; s < a.metrics.size(); ++s) {
    EXPECT_EQ(a.metrics[s].loss, b.metrics[s].loss) << "step " << s;
    EXPECT_EQ(a.metrics[s].grad_norm, b.metrics[s].grad_norm) << "step " << s;
    EXPECT_EQ(a.metrics[s].aux_loss, b.metrics[s].aux_loss) << "step " << s;
    EXPECT_EQ(a.metrics[s].load.max, b.metrics[s].load.max) << "step " << s;
    EXPECT_EQ(a.metrics[s].load.min, b.metrics[s].load.min) << "step " << s;
  }
  ASSERT_EQ(a.weights.size(), b.weights.size());
  for (const auto& [name, w] : a.weights) EXPECT_EQ(w, b.weights.at(name)) << name;
}

TEST(Rerun, FaultsOnTheFirstAttemptAreTransientAndTheRunEqualsACleanOne) {
  TinyRun clean_run, faulty_run;
  const Steps clean = train(clean_run, 6);
  // Step 1: a NaN in one grad; step 3: an infinite loss; both on the first attempt only.
  std::map<std::pair<std::int64_t, int>, std::vector<std::uint64_t>> seen;
  ::testing::internal::CaptureStderr();
  const Steps faulty = train(faulty_run, 6, [&](FaultPoint& f) {
    seen[{f.iteration, f.attempt}] = f.positions;
    if (f.attempt != 0) return;
    if (f.iteration == 1) ops::fill(f.params[2]->grad, std::numeric_limits<float>::quiet_NaN());
    if (f.iteration == 3) f.loss = std::numeric_limits<double>::infinity();
  });
  const std::string log = ::testing::internal::GetCapturedStderr();
  expect_same_run(clean, faulty);
  for (int s = 0; s < 6; ++s) {
    const StepMetrics& m = faulty.metrics[std::size_t(s)];
    EXPECT_FALSE(m.skipped) << s;
    EXPECT_EQ(m.rerun, s == 1 || s == 3 ? Rerun::transient : Rerun::none) << s;
    EXPECT_EQ(seen.count({s, 1}), s == 1 || s == 3 ? 1u : 0u) << "re-run only when needed, " << s;
  }
  EXPECT_EQ(faulty.metrics[1].anomaly, Anomaly::nonfinite_grad_norm);
  EXPECT_EQ(faulty.metrics[3].anomaly, Anomaly::nonfinite_loss);
  EXPECT_EQ(seen.at({1, 0}), seen.at({1, 1})) << "the re-run replays the same micro-batches";
  EXPECT_EQ(seen.at({3, 0}), seen.at({3, 1}));
  EXPECT_EQ(seen.at({3, 0}), (std::vector<std::uint64_t>{0, 2})) << "step 3 of 2 x 2 of 6";
  EXPECT_EQ(faulty_run.trainer.rerun_transient(), 2);
  EXPECT_EQ(faulty_run.trainer.skipped_total(), 0);
  EXPECT_EQ(faulty_run.trainer.updates(), 6);
  EXPECT_NE(log.find("iteration 1: non-finite grad norm on the first attempt (loss "),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("iteration 3: non-finite loss on the first attempt (loss inf"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("a transient fault; the re-run's step is taken"), std::string::npos) << log;
}

TEST(Rerun, ABatchBadEveryTimeIsSkippedWithItsSamplesAndCounted) {
  TinyRun r;
  // Sequence 4 onwards in micro-batch position 4 (step 1's second micro-batch): every attempt.
  int calls = 0;
  ::testing::internal::CaptureStderr();
  const Steps s = train(r, 4, [&](FaultPoint& f) {
    for (std::uint64_t p : f.positions)
      if (p == 4 && f.iteration == 1) ++calls, f.loss = kNaN;
  });
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(calls, 2) << "the first attempt and the re-run";
  EXPECT_TRUE(s.metrics[1].skipped);
  EXPECT_EQ(s.metrics[1].rerun, Rerun::skipped);
  EXPECT_EQ(s.metrics[1].anomaly, Anomaly::nonfinite_loss);
  for (int i : {0, 2, 3}) EXPECT_FALSE(s.metrics[std::size_t(i)].skipped) << i;
  EXPECT_EQ(r.trainer.skipped_nonfinite(), 1);
  EXPECT_EQ(r.trainer.skipped_total(), 1);
  EXPECT_EQ(r.trainer.skipped_in_a_row(), 0) << "the steps after it were taken";
  EXPECT_EQ(r.trainer.rerun_transient(), 0);
  EXPECT_EQ(r.trainer.updates(), 3);
  EXPECT_NE(log.find("iteration 1: non-finite loss again when re-run from the same state and "
                     "micro-batches (the same result: loss nan"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("the step is skipped (1 in a row, [train] max_consecutive_skipped = 2)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("its micro-batches: micro-batch 4 | micro-batch 0"), std::string::npos) << log;
}

TEST(Rerun, ASpikeOnTheFirstAttemptIsTransientAndOneEveryTimeIsSkipped) {
  TinyRun clean_run, spiky_run("check_for_spiky_loss = true\n");
  clean_run.trainer.spike_reference() = SpikeReference(2);
  spiky_run.trainer.spike_reference() = SpikeReference(2);
  const Steps clean = train(clean_run, 3);
  // Step 2 spikes on the first attempt only: the reference is set by then (2 steps).
  const Steps once = train(spiky_run, 3, [](FaultPoint& f) {
    if (f.iteration == 2 && f.attempt == 0) f.loss *= 100;
  });
  expect_same_run(clean, once);
  EXPECT_EQ(once.metrics[2].rerun, Rerun::transient);
  EXPECT_EQ(once.metrics[2].anomaly, Anomaly::spiky_loss);
  EXPECT_EQ(spiky_run.trainer.rerun_transient(), 1);
  // Then one that spikes every time is skipped and counted as spiky.
  FixedSource data(2, 6);
  spiky_run.trainer.set_fault_hook([](FaultPoint& f) { f.loss *= 100; });
  const StepMetrics m = spiky_run.trainer.step(data, 2);
  EXPECT_TRUE(m.skipped);
  EXPECT_EQ(m.anomaly, Anomaly::spiky_loss);
  EXPECT_EQ(spiky_run.trainer.skipped_spiky(), 1);
  EXPECT_EQ(spiky_run.trainer.skipped_nonfinite(), 0);
  // Without check_for_spiky_loss a large loss is just a loss.
  clean_run.trainer.set_fault_hook([](FaultPoint& f) { f.loss *= 100; });
  EXPECT_FALSE(clean_run.trainer.step(data, 2).skipped);
  EXPECT_EQ(clean_run.trainer.rerun_transient() + clean_run.trainer.skipped_total(), 0);
}

TEST(Rerun, TheCountersAndTheSpikeReferenceRoundTrip) {
  TinyRun r;
  TrainerCounters c;
  c.iteration = 9, c.updates = 5, c.skipped_total = 4, c.skipped_in_a_row = 1;
  c.rerun_transient = 3, c.skipped_nonfinite = 3, c.skipped_spiky = 1;
  c.spike_seen = 7, c.spike_reference = 4.5;
  r.trainer.set_counters(c);
  const TrainerCounters back = r.trainer.counters();
  EXPECT_EQ(back.rerun_transient, 3);
  EXPECT_EQ(back.skipped_nonfinite, 3);
  EXPECT_EQ(back.skipped_spiky, 1);
  EXPECT_EQ(back.spike_seen, 7);
  EXPECT_EQ(back.spike_reference, 4.5);
  EXPECT_EQ(back.skipped_in_a_row, 1);
}

TEST(SpikeReference, IsTheLargestOfTheFirstStepsTimesTen) {
  SpikeReference s(3);
  EXPECT_FALSE(s.is_spike(1e9)) << "no reference yet";
  for (double l : {4.0, 6.0, kNaN, 5.0}) s.taken(l);  // a NaN is not a sample
  EXPECT_EQ(s.seen(), 3);
  EXPECT_EQ(s.reference(), 6.0);
  s.taken(100);  // past the samples: the reference stays
  EXPECT_EQ(s.reference(), 6.0);
  EXPECT_FALSE(s.is_spike(59.9));
  EXPECT_TRUE(s.is_spike(60.0));
  EXPECT_FALSE(s.is_spike(kNaN)) << "non-finite losses are checked on their own";
  EXPECT_FALSE(s.is_spike(std::numeric_limits<double>::infinity()));
}

TEST(SpikeReference, AnomaliesInTheirOrder) {
  EXPECT_EQ(anomaly_of(kNaN, kNaN, true), Anomaly::nonfinite_loss);
  EXPECT_EQ(anomaly_of(1.0, kNaN, true), Anomaly::nonfinite_grad_norm);
  EXPECT_EQ(anomaly_of(1.0, 2.0, true), Anomaly::spiky_loss);
  EXPECT_EQ(anomaly_of(1.0, 2.0, false), Anomaly::none);
  EXPECT_TRUE(same_bits(kNaN, -kNaN));
  EXPECT_FALSE(same_bits(0.0, -0.0));
  EXPECT_FALSE(same_bits(kNaN, 1.0));
  // One process: the anomaly is its own.
  EXPECT_EQ(agree(Anomaly::spiky_loss, *single_process_comm()), Anomaly::spiky_loss);
}

}  // namespace
}  // namespace vpmoe::testing
