// Registers ffn.dense.
#include "vpmoe/plugin.h"
#include "dense_ffn.h"

namespace {

void register_dense(vpmoe::Registry& reg) {
  reg.add<vpmoe::FeedForward>("ffn.dense", vpmoe::ffn::build);
}

}  // namespace

VPMOE_PLUGIN("ffn_dense", "0.1.0", register_dense)
