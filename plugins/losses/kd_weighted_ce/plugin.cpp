// Registers loss.kd_weighted_ce.
#include "vpmoe/plugin.h"
#include "kd_weighted_ce_loss.h"

namespace {

void register_kd_weighted_ce(vpmoe::Registry& reg) {
  reg.add<vpmoe::Loss>("loss.kd_weighted_ce", vpmoe::losses::build_kd_weighted_ce);
}

}  // namespace

VPMOE_PLUGIN("loss_kd_weighted_ce", "0.1.0", register_kd_weighted_ce)
