#include "ce_loss.h"

namespace vpmoe::losses {

void CeLoss::add_totals(const LossInputs& in, std::span<double> totals) const {
  for (std::int64_t i = 0; i < in.tokens; ++i) totals[0] += in.mask_at(i);
}

void CeLoss::begin_step(std::span<const double> totals) {
  count_ = totals[0];
}

void CeLoss::weights(const LossInputs& in, std::span<float> w) const {
  const double inv = count_ > 0 ? 1.0 / count_ : 0.0;
  for (std::int64_t i = 0; i < in.tokens; ++i) w[std::size_t(i)] = float(in.mask_at(i) * inv);
}

std::unique_ptr<Loss> build_ce(const BuildArgs&) {
  return std::make_unique<CeLoss>();
}

}  // namespace vpmoe::losses
