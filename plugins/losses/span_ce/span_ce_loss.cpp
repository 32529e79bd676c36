#include "span_ce_loss.h"

namespace vpmoe::losses {

void SpanCeLoss::add_totals(const LossInputs& in, std::span<double> totals) const {
  if (in.span.empty()) throw Error("loss.span_ce: a micro-batch without span labels");
  add_span_counts(in, totals);
}

void SpanCeLoss::begin_step(std::span<const double> totals) {
  scale_ = SpanScale(c_, totals[0], totals[1]);
}

void SpanCeLoss::weights(const LossInputs& in, std::span<float> w) const {
  for (std::int64_t i = 0; i < in.tokens; ++i)
    w[std::size_t(i)] = float(in.mask_at(i) * scale_.of(term_of(in, i)));
}

std::unique_ptr<Loss> build_span_ce(const BuildArgs& a) {
  if (!a.config) throw Error("loss.span_ce: built without a configuration");
  return std::make_unique<SpanCeLoss>(a.config->loss);
}

}  // namespace vpmoe::losses
