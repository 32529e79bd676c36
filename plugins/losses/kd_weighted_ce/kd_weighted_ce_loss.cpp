#include "kd_weighted_ce_loss.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vpmoe::losses {

void KdWeightedCeLoss::check_inputs(bool has_span, bool has_teacher_logp) const {
  require_span(spec_name(), has_span);
  if (!has_teacher_logp)
    throw Error(spec_name() +
                " needs teacher log-probabilities, but no dataset of [data] paths has a "
                "PREFIX_teacher_logp sidecar (preprocess --format tokens with \"teacher_logp\")");
}

// totals: reasoning count, final count, sum and count of the counted teacher_logp.
void KdWeightedCeLoss::add_totals(const LossInputs& in, std::span<double> totals) const {
  if (in.span.empty()) throw Error("loss.kd_weighted_ce: a micro-batch without span labels");
  add_span_counts(in, totals);
  if (in.teacher_logp.empty()) return;
  for (std::int64_t i = 0; i < in.tokens; ++i) {
    const float lp = in.teacher_logp[std::size_t(i)];
    if (term_of(in, i) == Term::none || !std::isfinite(lp)) continue;
    totals[2] += double(lp);
    totals[3] += 1.0;
  }
}

void KdWeightedCeLoss::begin_step(std::span<const double> totals) {
  scale_ = SpanScale(c_, totals[0], totals[1]);
  step_sum_ = totals[2], step_count_ = totals[3];
  if (c_.kd_center) {
    center_ = *c_.kd_center;
  } else {
    const double n = count_ + step_count_;
    center_ = n > 0 ? (sum_ + step_sum_) / n : 0.0;
  }
}

double KdWeightedCeLoss::token_weight(float teacher_logp, double m) const {
  const double x =
      std::isfinite(teacher_logp) ? (double(teacher_logp) - m) / c_.kd_temperature : 0.0;
  return std::clamp(std::exp(x), c_.kd_weight_min, c_.kd_weight_max);
}

void KdWeightedCeLoss::weights(const LossInputs& in, std::span<float> w) const {
  for (std::int64_t i = 0; i < in.tokens; ++i) {
    const Term t = term_of(in, i);
    if (t == Term::none) {
      w[std::size_t(i)] = 0.f;
      continue;
    }
    const float lp = in.teacher_logp.empty() ? std::numeric_limits<float>::quiet_NaN()
                                             : in.teacher_logp[std::size_t(i)];
    w[std::size_t(i)] = float(in.mask_at(i) * token_weight(lp, center_) * scale_.of(t));
  }
}

void KdWeightedCeLoss::end_step() {
  sum_ += step_sum_, count_ += step_count_;
  step_sum_ = 0, step_count_ = 0;
}

std::map<std::string, double> KdWeightedCeLoss::state() const {
  return {{"teacher_logp_sum", sum_}, {"teacher_logp_count", count_}};
}

void KdWeightedCeLoss::load_state(const std::map<std::string, double>& state) {
  auto get = [&](const char* key) {
    auto it = state.find(key);
    if (it == state.end())
      throw Error(std::string("loss.kd_weighted_ce: the checkpoint's loss state has no ") + key);
    return it->second;
  };
  sum_ = get("teacher_logp_sum"), count_ = get("teacher_logp_count");
  step_sum_ = 0, step_count_ = 0;
}

std::unique_ptr<Loss> build_kd_weighted_ce(const BuildArgs& a) {
  if (!a.config) throw Error("loss.kd_weighted_ce: built without a configuration");
  return std::make_unique<KdWeightedCeLoss>(a.config->loss);
}

}  // namespace vpmoe::losses
