// Registers attention.tpa.
#include "vpmoe/plugin.h"
#include "tpa_attention.h"

namespace {

void register_tpa(vpmoe::Registry& reg) {
  reg.add<vpmoe::Attention>("attention.tpa", vpmoe::attention::build_tpa);
}

}  // namespace

VPMOE_PLUGIN("tpa_attention", "0.1.0", register_tpa)
