// Registers a name test_good already has, and one of its own that must still load.
#include "test_plugins/trivial_positional.h"

namespace {
void register_duplicate(vpmoe::Registry& reg) {
  vpmoe::test::add_trivial(reg, "positional.test_good");
  vpmoe::test::add_trivial(reg, "positional.test_dup_extra");
}
}  // namespace

VPMOE_PLUGIN("test_duplicate", "0.0.3", register_duplicate)
