// Registers loss.ce.
#include "vpmoe/plugin.h"
#include "ce_loss.h"

namespace {

void register_ce(vpmoe::Registry& reg) {
  reg.add<vpmoe::Loss>("loss.ce", vpmoe::losses::build_ce);
}

}  // namespace

VPMOE_PLUGIN("loss_ce", "0.1.0", register_ce)
