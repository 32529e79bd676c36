#pragma once
// Finds plugin files, checks them and lets them register (Boost.DLL). Used by the host and the
// tests; plugins themselves only see vpmoe/plugin.h.
#include <string>
#include <vector>

#include "vpmoe/registry.h"

namespace vpmoe {

struct PluginLoadError {
  std::string file;
  std::string message;  // one clear sentence: what was expected and what was found
};

struct LoadedPlugin {
  std::string file;
  std::string name;
  std::string version;
  std::vector<std::string> names;  // spec names it registered
};

struct PluginLoadReport {
  std::vector<LoadedPlugin> loaded;
  std::vector<PluginLoadError> errors;
};

// The search path, in order: cli_paths (--plugin-path), config_paths ([plugins] paths),
// VPMOE_PLUGIN_PATH (colon-separated), then the install's lib/vpmoe/plugins next to the
// running executable. An entry may be a directory (every shared library in it) or a file.
std::vector<std::string> plugin_search_path(const std::vector<std::string>& cli_paths,
                                            const std::vector<std::string>& config_paths);

// Loads every plugin found on the path into reg. A bad file is reported in errors (and noted
// in reg, so that asking for a name it would have provided explains why) and never stops the
// good ones. Loaded libraries stay loaded for the life of the process.
PluginLoadReport load_plugins(const std::vector<std::string>& search_path, Registry& reg);

}  // namespace vpmoe
