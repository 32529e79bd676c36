#pragma once
// loss.ce: L = sum_i mask_i CE_i / sum_i mask_i over the step's global batch (every
// micro-batch of the step on every data-parallel rank), the plain loss-masked mean.
#include <memory>

#include "vpmoe/loss.h"
#include "vpmoe/registry.h"

namespace vpmoe::losses {

class CeLoss final : public Loss {
 public:
  std::string spec_name() const override { return "loss.ce"; }
  int num_totals() const override { return 1; }
  void add_totals(const LossInputs& in, std::span<double> totals) const override;
  void begin_step(std::span<const double> totals) override;
  void weights(const LossInputs& in, std::span<float> w) const override;

 private:
  double count_ = 0;
};

std::unique_ptr<Loss> build_ce(const BuildArgs& a);

}  // namespace vpmoe::losses
