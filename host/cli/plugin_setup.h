#pragma once
// Loading the plugins for a command: the search path from --plugin-path and [plugins] paths,
// every load error logged as a warning (a bad file never stops the good ones).
#include <string>
#include <vector>

#include "registry/plugin_loader.h"
#include "vpmoe/registry.h"

#include "cli/cli.h"

namespace vpmoe::host::cli {

struct LoadedPlugins {
  std::vector<std::string> search_path;
  Registry registry;
  PluginLoadReport report;
};

LoadedPlugins load_plugins_for(const Common& common, const std::vector<std::string>& config_paths);

}  // namespace vpmoe::host::cli
