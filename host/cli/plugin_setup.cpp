#include "cli/plugin_setup.h"

#include "vpmoe/log.h"

namespace vpmoe::host::cli {

LoadedPlugins load_plugins_for(const Common& common, const std::vector<std::string>& config_paths) {
  LoadedPlugins out;
  out.search_path = plugin_search_path(common.plugin_paths, config_paths);
  for (const auto& p : out.search_path) log::debug("plugin search path: " + p);
  out.report = load_plugins(out.search_path, out.registry);
  for (const auto& e : out.report.errors) log::warn("plugin " + e.file + ": " + e.message);
  log::debug("loaded " + std::to_string(out.report.loaded.size()) + " plugin file(s), " +
             std::to_string(out.registry.entries().size()) + " spec name(s)");
  return out;
}

}  // namespace vpmoe::host::cli
