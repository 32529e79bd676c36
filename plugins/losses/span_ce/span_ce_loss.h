#pragma once
// loss.span_ce: L = w_r * mean(CE over reasoning labels) + w_f * mean(CE over final labels),
// each mean over its own labels of the step's global batch (span_terms.h); [loss]
// reasoning_weight = w_r, final_weight = w_f.
#include <memory>

#include "span_terms.h"
#include "vpmoe/registry.h"

namespace vpmoe::losses {

class SpanCeLoss final : public Loss {
 public:
  explicit SpanCeLoss(const LossConfig& c) : c_(c) {}
  std::string spec_name() const override { return "loss.span_ce"; }
  void check_inputs(bool has_span, bool) const override { require_span(spec_name(), has_span); }
  int num_totals() const override { return 2; }
  void add_totals(const LossInputs& in, std::span<double> totals) const override;
  void begin_step(std::span<const double> totals) override;
  void weights(const LossInputs& in, std::span<float> w) const override;

 private:
  LossConfig c_;
  SpanScale scale_;
};

std::unique_ptr<Loss> build_span_ce(const BuildArgs& a);

}  // namespace vpmoe::losses
