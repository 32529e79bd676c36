// The host side of the plugin ABI check: what this core library was built as.
#include "vpmoe/version.h"
#include "vpmoe/plugin.h"

namespace vpmoe {

std::uint32_t abi_version() {
  return VPMOE_ABI_VERSION;
}
const char* build_tag() {
  return VPMOE_BUILD_TAG;
}

}  // namespace vpmoe
