// Registers optimizer.adamw.
#include "vpmoe/plugin.h"
#include "adamw.h"

namespace {

void register_adamw(vpmoe::Registry& reg) {
  reg.add<vpmoe::Optimizer>("optimizer.adamw", vpmoe::adamw::build);
}

}  // namespace

VPMOE_PLUGIN("adamw", "0.1.0", register_adamw)
