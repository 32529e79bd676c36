// Activation recomputation ([train] recompute) on the tiny CPU model (TPA local + GQA global,
// value residual, dense layer 1, MoE layers with a shared expert): every mode gives the loss,
// the aux loss, every gradient, the MoE counts, the expert biases and the weights of
// "none" bit for bit over optimizer steps of 2 micro-batches; a recomputed forward counts no
// token twice; layer 1 recomputed keeps the value-residual gradient the later layers sent; a
// fault's re-run is still bit for bit; and the saved activations are really released
// (full < moe, attention < none in the bytes the modules hold after a forward).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>

#include "host/train/trainer_fixture.h"
#include "tensor/storage.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {
namespace {

using namespace host::train;

const char* const kModes[] = {"moe", "attention", "full"};

std::string recompute_key(const std::string& mode) {
  return "recompute = \"" + mode + "\"\n";
}

std::vector<std::byte> bytes_of(const Tensor& t) {
  const Tensor c = t.to(Device::cpu());
  std::vector<std::byte> b(c.nbytes());
  if (!b.empty()) std::memcpy(b.data(), c.data(), b.size());
  return b;
}

// "" when a and b hold the same bytes, else where they first differ (and how many do).
std::string byte_difference(const Tensor& a, const Tensor& b) {
  const std::vector<std::byte> x = bytes_of(a), y = bytes_of(b);
  if (x.size() != y.size())
    return std::to_string(x.size()) + " bytes vs " + std::to_string(y.size());
  std::size_t first = x.size(), count = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (x[i] != y[i]) first = std::min(first, i), ++count;
  if (count == 0) return "";
  return std::to_string(count) + " of " + std::to_string(x.size()) + " bytes differ, from byte " +
         std::to_string(first);
}

// Every parameter's grad (or value) and every module state tensor, bytewise.
void expect_same_bytes(model::GptModel& want, model::GptModel& got, bool grads,
                       const std::string& what) {
  const auto pw = want.parameters(), pg = got.parameters();
  ASSERT_EQ(pw.size(), pg.size());
  for (std::size_t i = 0; i < pw.size(); ++i)
    EXPECT_EQ(
        byte_difference(grads ? pg[i]->grad : pg[i]->value, grads ? pw[i]->grad : pw[i]->value), "")
        << what << ": " << pw[i]->name << (grads ? " grad" : " value");
  const auto sw = want.state(), sg = got.state();
  ASSERT_EQ(sw.size(), sg.size());
  for (const auto& [k, t] : sw) EXPECT_EQ(byte_difference(sg.at(k), t), "") << what << ": " << k;
}

void expect_same_metrics(const StepMetrics& want, const StepMetrics& got, const std::string& what) {
  EXPECT_TRUE(same_bits(got.loss, want.loss)) << what << ": " << got.loss << " vs " << want.loss;
  EXPECT_TRUE(same_bits(got.aux_loss, want.aux_loss)) << what;
  EXPECT_TRUE(same_bits(got.grad_norm, want.grad_norm)) << what;
  EXPECT_EQ(got.load.min, want.load.min) << what;
  EXPECT_EQ(got.load.max, want.load.max) << what;
  EXPECT_TRUE(same_bits(got.load.cv, want.load.cv)) << what;
  EXPECT_EQ(got.tokens, want.tokens) << what;
}

std::vector<moe::MoeLayer*> moe_layers(model::GptModel& m) {
  std::vector<moe::MoeLayer*> out;
  for (auto& l : m.layers())
    if (auto* moe = dynamic_cast<moe::MoeLayer*>(&l->ffn())) out.push_back(moe);
  return out;
}

TEST(Recompute, TheTinyModelHasEveryPartTheModesMustGetRight) {
  TinyRun r;
  bool value_residual = false, shared_expert = false;
  for (Parameter* p : r.model->parameters()) {
    value_residual |= p->name.find("value_residual_logit") != std::string::npos;
    shared_expert |= p->name.find("shared_expert") != std::string::npos;
  }
  EXPECT_TRUE(value_residual);
  EXPECT_TRUE(shared_expert);
  EXPECT_FALSE(dynamic_cast<moe::MoeLayer*>(&r.model->layers()[0]->ffn())) << "dense layer 1";
  EXPECT_EQ(moe_layers(*r.model).size(), 3u);
  EXPECT_EQ(r.model->recompute(), model::Recompute::none);
  TinyRun full(recompute_key("full"));
  EXPECT_EQ(full.model->recompute(), model::Recompute::full);
  for (auto& l : full.model->layers()) EXPECT_EQ(l->recompute(), model::Recompute::full);
}

// Three optimizer steps of 2 micro-batches each: the step's grads, metrics, expert biases and
// the updated weights equal "none"'s bit for bit after every step.
TEST(Recompute, EveryModeGivesTheStepsOfNoneBitForBit) {
  for (const char* mode : kModes) {
    TinyRun none, rec(recompute_key(mode));
    FixedSource a(2, 6), b(2, 6);
    for (int s = 0; s < 3; ++s) {
      const std::string what = std::string(mode) + ", step " + std::to_string(s);
      const StepMetrics want = none.trainer.step(a, 2), got = rec.trainer.step(b, 2);
      EXPECT_FALSE(got.skipped) << what;
      expect_same_metrics(want, got, what);
      expect_same_bytes(*none.model, *rec.model, /*grads=*/true, what);
      expect_same_bytes(*none.model, *rec.model, /*grads=*/false, what);
    }
  }
}

// A recomputed forward counts no token for the expert-bias update and reports the aux loss
// once: the step's counts are 2 micro-batches x tokens x top-k per layer, as without it.
TEST(Recompute, RoutingCountsAndTheAuxLossAreTakenOnce) {
  for (const char* mode : kModes) {
    TinyRun none, rec(recompute_key(mode));
    FixedSource a(2, 6), b(2, 6);
    const StepMetrics want = none.trainer.accumulate(a, 2), got = rec.trainer.accumulate(b, 2);
    EXPECT_TRUE(same_bits(got.aux_loss, want.aux_loss)) << mode;
    EXPECT_GT(got.aux_loss, 0.0) << mode;
    const auto mw = moe_layers(*none.model), mg = moe_layers(*rec.model);
    ASSERT_EQ(mw.size(), mg.size());
    for (std::size_t l = 0; l < mw.size(); ++l) {
      EXPECT_EQ(mg[l]->step_counts(), mw[l]->step_counts()) << mode << ", MoE layer " << l;
      std::int64_t total = 0;
      for (std::int64_t n : mg[l]->step_counts()) total += n;
      EXPECT_EQ(total, 2 * 2 * FixedSource::T * 2) << mode << ": micro-batches x tokens x k";
      EXPECT_TRUE(same_bits(mg[l]->aux_loss(), mw[l]->aux_loss())) << mode;
    }
  }
}

// Layer 1 sets v1 and zeroes dv1 in its forward; re-run as a recomputation (after the later
// layers' backward) it must keep the dv1 they accumulated.
TEST(Recompute, LayerOneRecomputedKeepsTheValueResidualGradient) {
  TinyRun r;
  Attention& first = r.model->layers()[0]->attention();
  const std::int64_t B = 2, T = 8, H = 16;
  std::vector<float> xs(std::size_t(B * T * H));
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = float(int(i * 37 % 23) - 11) / 8.f;
  const Tensor x = Tensor::from_floats(xs, {B * T, H}, DType::f32);
  Context ctx{Device::cpu(), B, T, true, 1.0};
  ValueResidualState vr;
  first.forward(ctx, x, &vr);
  ASSERT_TRUE(vr.v1.defined());
  ASSERT_TRUE(vr.dv1.defined());
  const std::vector<float> v1 = vr.v1.to_floats();
  ops::fill(vr.dv1, 0.25f);  // what layers > 1 sent back
  const Tensor dv1 = vr.dv1;
  first.drop_saved();
  Context again = ctx;
  again.recomputing = true;
  first.forward(again, x, &vr);
  EXPECT_EQ(vr.v1.to_floats(), v1) << "the same values";
  EXPECT_EQ(vr.dv1.data(), dv1.data()) << "the same accumulator";
  for (float v : vr.dv1.to_floats()) ASSERT_EQ(v, 0.25f) << "dv1 kept";
  // A plain forward (the next micro-batch) starts it again from zero.
  first.forward(ctx, x, &vr);
  for (float v : vr.dv1.to_floats()) ASSERT_EQ(v, 0.f) << "dv1 reset";
}

// A fault on the first attempt with "full": the re-run is still bit for bit, so the run
// equals a clean one without recomputation (train/rerun.h's premise).
TEST(Recompute, AFaultsReRunIsTransientAndEqualsACleanRunOfNone) {
  TinyRun clean, faulty(recompute_key("full"));
  faulty.trainer.set_fault_hook([](FaultPoint& f) {
    if (f.attempt == 0 && f.iteration == 1)
      ops::fill(f.params[2]->grad, std::numeric_limits<float>::quiet_NaN());
  });
  FixedSource a(2, 6), b(2, 6);
  ::testing::internal::CaptureStderr();
  for (int s = 0; s < 3; ++s) {
    const StepMetrics want = clean.trainer.step(a, 2), got = faulty.trainer.step(b, 2);
    EXPECT_EQ(got.rerun, s == 1 ? Rerun::transient : Rerun::none) << s;
    expect_same_metrics(want, got, "step " + std::to_string(s));
  }
  ::testing::internal::GetCapturedStderr();
  expect_same_bytes(*clean.model, *faulty.model, /*grads=*/false, "after the re-run");
  EXPECT_EQ(faulty.trainer.rerun_transient(), 1);
}

// The bytes the model's modules hold after a training forward of one micro-batch (what waits
// for the backward), measured as the CPU tensors' live bytes.
std::int64_t saved_bytes(const std::string& mode) {
  TinyRun r(mode == "none" ? "" : recompute_key(mode));
  FixedSource data(4, 4);
  const Batch b = data.next();
  const Context ctx{Device::cpu(), b.batch, b.seq_len, true, 1.0};
  const std::int64_t before = Storage::live_bytes(Device::cpu());
  r.model->run(ctx, b.ids, b.targets, Tensor(), 1.f, /*backward=*/false);
  return Storage::live_bytes(Device::cpu()) - before;
}

TEST(Recompute, TheModesReleaseTheSavedActivations) {
  std::map<std::string, std::int64_t> bytes;
  for (const char* mode : {"none", "moe", "attention", "full"}) bytes[mode] = saved_bytes(mode);
  for (const auto& [mode, n] : bytes)
    std::cout << "saved after the forward, " << mode << ": " << n << " bytes\n";
  EXPECT_GT(bytes["full"], 0) << "each layer's input stays";
  EXPECT_LT(bytes["full"], bytes["moe"]);
  EXPECT_LT(bytes["full"], bytes["attention"]);
  EXPECT_LT(bytes["moe"], bytes["none"]);
  EXPECT_LT(bytes["attention"], bytes["none"]);
  // full keeps one [N, H] f32 input per layer (and layer 1's values for the value residual).
  const std::int64_t N = 4 * FixedSource::T, H = 16, layers = 4;
  EXPECT_GE(bytes["full"], layers * N * H * 4);
  EXPECT_LE(bytes["full"], layers * N * H * 4 + N * 2 * 4 * 4 + 4096);
}

}  // namespace
}  // namespace vpmoe::testing
