// Registers one name, then throws: the loader must add nothing from it.
#include <stdexcept>

#include "test_plugins/trivial_positional.h"

namespace {
void register_throws(vpmoe::Registry& reg) {
  vpmoe::test::add_trivial(reg, "positional.test_throws_partial");
  throw std::runtime_error("deliberate failure in register_throws");
}
}  // namespace

VPMOE_PLUGIN("test_throws", "0.0.2", register_throws)
