// Registers loss.span_ce.
#include "vpmoe/plugin.h"
#include "span_ce_loss.h"

namespace {

void register_span_ce(vpmoe::Registry& reg) {
  reg.add<vpmoe::Loss>("loss.span_ce", vpmoe::losses::build_span_ce);
}

}  // namespace

VPMOE_PLUGIN("loss_span_ce", "0.1.0", register_span_ce)
