// Registers optimizer.normuon.
#include "vpmoe/plugin.h"
#include "normuon.h"

namespace {

void register_normuon(vpmoe::Registry& reg) {
  reg.add<vpmoe::Optimizer>("optimizer.normuon", vpmoe::normuon::build);
}

}  // namespace

VPMOE_PLUGIN("normuon", "0.1.0", register_normuon)
