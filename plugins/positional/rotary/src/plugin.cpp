// Registers positional.grape_m and positional.rope.
#include "vpmoe/plugin.h"
#include "rotary_positional.h"

namespace {

void register_rotary(vpmoe::Registry& reg) {
  reg.add<vpmoe::Positional>("positional.grape_m", vpmoe::rotary::build_grape_m);
  reg.add<vpmoe::Positional>("positional.rope", vpmoe::rotary::build_rope);
}

}  // namespace

VPMOE_PLUGIN("rotary_positional", "0.1.0", register_rotary)
