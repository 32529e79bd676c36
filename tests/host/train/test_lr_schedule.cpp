// The learning-rate schedules against Megatron's formulas (spec/training.md §3), step by step:
// warmup from 0, each decay style, WSD's anneal shapes, min_lr after the decay steps, and
// constant ignoring them.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "train/lr_schedule.h"

namespace vpmoe::testing {
namespace {

using host::train::LrSchedule;

TrainConfig train(const std::string& style, int warmup, int decay, int wsd = 0,
                  const std::string& wsd_style = "linear") {
  TrainConfig t;
  t.train_iters = 1000;
  t.lr_decay_style = style;
  t.lr_warmup_iters = warmup;
  t.lr_decay_iters = decay;
  t.lr_wsd_decay_iters = wsd;
  t.lr_wsd_decay_style = wsd_style;
  return t;
}

const LrRange kRange{1e-3, 1e-4};

TEST(LrSchedule, WarmupThenEachDecayStyle) {
  const double pi = std::numbers::pi;
  for (const std::string style : {"constant", "linear", "cosine"}) {
    const LrSchedule s(train(style, 10, 110), kRange);
    EXPECT_DOUBLE_EQ(s.at(0), 0.0) << style;
    EXPECT_DOUBLE_EQ(s.at(5), 5e-4) << style;
    EXPECT_DOUBLE_EQ(s.at(10), 1e-3) << style;
  }
  const LrSchedule lin(train("linear", 10, 110), kRange), cos(train("cosine", 10, 110), kRange);
  EXPECT_DOUBLE_EQ(lin.at(60), 1e-4 + 0.5 * 9e-4);
  EXPECT_NEAR(cos.at(35), 1e-4 + 0.5 * (1 + std::cos(pi * 0.25)) * 9e-4, 1e-18);
  EXPECT_DOUBLE_EQ(lin.at(110), 1e-4);
  EXPECT_DOUBLE_EQ(lin.at(111), 1e-4) << "after the decay steps: min_lr";
  EXPECT_DOUBLE_EQ(cos.at(5000), 1e-4);
  const LrSchedule constant(train("constant", 0, 110), kRange);
  EXPECT_DOUBLE_EQ(constant.at(0), 1e-3);
  EXPECT_DOUBLE_EQ(constant.at(5000), 1e-3) << "constant ignores the decay steps (Megatron)";
}

TEST(LrSchedule, DecayStepsDefaultToTrainIters) {
  const LrSchedule lin(train("linear", 0, 0), kRange);
  EXPECT_DOUBLE_EQ(lin.at(500), 1e-4 + 0.5 * 9e-4);
  EXPECT_DOUBLE_EQ(lin.at(1000), 1e-4);
}

TEST(LrSchedule, InverseSquareRoot) {
  const LrSchedule s(train("inverse-square-root", 16, 100000), kRange);
  EXPECT_DOUBLE_EQ(s.at(16), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(64), 1e-3 * 4.0 / 8.0);
  EXPECT_DOUBLE_EQ(s.at(16 * 400), 1e-4) << "floored at min_lr (sqrt ratio 1/20 < 1/10)";
}

TEST(LrSchedule, WsdHoldsThenAnnealsOverItsLastSteps) {
  const double pi = std::numbers::pi;
  const auto at = [&](const std::string& shape, std::int64_t step) {
    return LrSchedule(train("WSD", 10, 110, 40, shape), kRange).at(step);
  };
  for (const std::string shape : {"linear", "cosine", "exponential", "minus_sqrt"}) {
    EXPECT_DOUBLE_EQ(at(shape, 50), 1e-3) << shape << ": stable until step 70";
    EXPECT_DOUBLE_EQ(at(shape, 70), 1e-3) << shape;
    EXPECT_NEAR(at(shape, 110), 1e-4, 1e-18) << shape << ": min_lr at the end";
  }
  // A quarter into the anneal (step 80 of 70..110).
  EXPECT_DOUBLE_EQ(at("linear", 80), 1e-4 + 0.75 * 9e-4);
  EXPECT_NEAR(at("cosine", 80), 1e-4 + 0.5 * (std::cos(pi * 0.25) + 1) * 9e-4, 1e-18);
  EXPECT_NEAR(at("exponential", 80), 1e-4 + (2 * std::pow(0.5, 0.25) - 1) * 9e-4, 1e-18);
  EXPECT_NEAR(at("minus_sqrt", 80), 1e-4 + 0.5 * 9e-4, 1e-18);
}

}  // namespace
}  // namespace vpmoe::testing
