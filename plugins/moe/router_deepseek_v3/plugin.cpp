// Registers moe.router.deepseek_v3.
#include "vpmoe/plugin.h"
#include "deepseek_router.h"

namespace {

void register_router(vpmoe::Registry& reg) {
  reg.add<vpmoe::Router>("moe.router.deepseek_v3", vpmoe::router::build);
}

}  // namespace

VPMOE_PLUGIN("moe_router_deepseek_v3", "0.1.0", register_router)
