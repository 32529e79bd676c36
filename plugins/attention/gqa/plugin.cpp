// Registers attention.gqa.
#include "vpmoe/plugin.h"
#include "gqa_attention.h"

namespace {

void register_gqa(vpmoe::Registry& reg) {
  reg.add<vpmoe::Attention>("attention.gqa", vpmoe::attention::build_gqa);
}

}  // namespace

VPMOE_PLUGIN("gqa_attention", "0.1.0", register_gqa)
