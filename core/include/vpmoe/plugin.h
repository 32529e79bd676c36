#pragma once
// What a plugin exports. One symbol, `vpmoe_plugin_v1` (BOOST_DLL_ALIAS), returns a pointer
// to a descriptor whose first field is the ABI version, so a loader can read it before it
// trusts anything else. Write VPMOE_PLUGIN("name", "1.2.0", register_fn) once per plugin.
#include <cstdint>

#include <boost/dll/alias.hpp>

#include "vpmoe/registry.h"
#include "vpmoe/version.h"

namespace vpmoe {

struct PluginDescriptor {
  std::uint32_t abi_version;
  const char* name;
  const char* version;
  const char* build_tag;  // must equal the host's vpmoe::build_tag()
  void (*register_fn)(Registry&);
};

// The host's ABI version and build tag (from the core library it runs with).
std::uint32_t abi_version();
const char* build_tag();

}  // namespace vpmoe

#ifndef VPMOE_PLUGIN_ABI_VERSION
#define VPMOE_PLUGIN_ABI_VERSION VPMOE_ABI_VERSION
#endif
#ifndef VPMOE_PLUGIN_BUILD_TAG
#define VPMOE_PLUGIN_BUILD_TAG VPMOE_BUILD_TAG
#endif

#define VPMOE_PLUGIN(NAME, VERSION, REGISTER_FN)                                       \
  namespace {                                                                          \
  const ::vpmoe::PluginDescriptor vpmoe_plugin_descriptor_{                            \
      VPMOE_PLUGIN_ABI_VERSION, NAME, VERSION, VPMOE_PLUGIN_BUILD_TAG, REGISTER_FN};   \
  }                                                                                    \
  extern "C" const ::vpmoe::PluginDescriptor* vpmoe_plugin_entry() {                   \
    return &vpmoe_plugin_descriptor_;                                                  \
  }                                                                                    \
  BOOST_DLL_ALIAS(vpmoe_plugin_entry, vpmoe_plugin_v1)
