#pragma once
// loss.kd_weighted_ce (docs/training.md "Objectives"):
//   w_t = clip(exp((teacher_logp[t] - m) / T), w_min, w_max)
//   L   = w_r * (1/n_r) sum_{t in reasoning} w_t CE_t + w_f * (1/n_f) sum_{t in final} w_t CE_t
// n_r, n_f: the label counts of the spans in the step's global batch (a mean over tokens,
// not over sum w_t). A label without a teacher value (NaN: a blended dataset without the
// sidecar) has teacher_logp = m, so w_t = clip(1, w_min, w_max).
// m: [loss] kd_center, or with "running" the mean of teacher_logp over every counted label
// (a reasoning or final label with a finite teacher_logp) of every step taken so far and of
// the current step, over its global batch: m = (S + s) / (C + c), with S, C the sum and count
// of the steps taken before (checkpointed as doubles) and s, c the current step's.
#include <memory>

#include "span_terms.h"
#include "vpmoe/registry.h"

namespace vpmoe::losses {

class KdWeightedCeLoss final : public Loss {
 public:
  explicit KdWeightedCeLoss(const LossConfig& c) : c_(c) {}
  std::string spec_name() const override { return "loss.kd_weighted_ce"; }
  void check_inputs(bool has_span, bool has_teacher_logp) const override;
  int num_totals() const override { return 4; }
  void add_totals(const LossInputs& in, std::span<double> totals) const override;
  void begin_step(std::span<const double> totals) override;
  void weights(const LossInputs& in, std::span<float> w) const override;
  void end_step() override;
  std::map<std::string, double> state() const override;
  void load_state(const std::map<std::string, double>& state) override;

  double center() const { return center_; }  // m of the current step
  // The token weight w_t for a teacher log-probability (NaN: none) at center m.
  double token_weight(float teacher_logp, double m) const;

 private:
  LossConfig c_;
  SpanScale scale_;
  double center_ = 0;
  double sum_ = 0, count_ = 0;            // S, C: the steps taken
  double step_sum_ = 0, step_count_ = 0;  // s, c: the current step's
};

std::unique_ptr<Loss> build_kd_weighted_ce(const BuildArgs& a);

}  // namespace vpmoe::losses
