// Registers positional.grape_a.
#include "vpmoe/plugin.h"
#include "grape_a.h"

namespace {

void register_grape_a(vpmoe::Registry& reg) {
  reg.add<vpmoe::Positional>("positional.grape_a", vpmoe::grape_a::build);
}

}  // namespace

VPMOE_PLUGIN("grape_a", "0.1.0", register_grape_a)
