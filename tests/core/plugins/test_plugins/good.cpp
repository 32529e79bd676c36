// A well-formed plugin with two names.
#include "test_plugins/trivial_positional.h"

namespace {
void register_good(vpmoe::Registry& reg) {
  vpmoe::test::add_trivial(reg, "positional.test_good");
  vpmoe::test::add_trivial(reg, "positional.test_good_too");
}
}  // namespace

VPMOE_PLUGIN("test_good", "1.2.3", register_good)
