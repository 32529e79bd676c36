// Built twice, with VPMOE_PLUGIN_ABI_VERSION or VPMOE_PLUGIN_BUILD_TAG overridden, so that
// the loader must refuse it before calling register.
#include <stdexcept>

#include "test_plugins/trivial_positional.h"

namespace {
void register_mismatch(vpmoe::Registry&) {
  throw std::logic_error("register of a mismatched plugin must never be called");
}
}  // namespace

VPMOE_PLUGIN("test_mismatch", "0.0.1", register_mismatch)
