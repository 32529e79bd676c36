// Registers moe.experts.grouped_mlp.
#include "vpmoe/plugin.h"
#include "grouped_mlp.h"

namespace {

void register_experts(vpmoe::Registry& reg) {
  reg.add<vpmoe::Experts>("moe.experts.grouped_mlp", vpmoe::experts::build);
}

}  // namespace

VPMOE_PLUGIN("moe_experts_grouped_mlp", "0.1.0", register_experts)
