// vpmoe-host plugins [--json]: what the search path provides, and what failed to load.
#include <algorithm>
#include <iostream>

#include <nlohmann/json.hpp>

#include "vpmoe/config.h"

#include "cli/cli.h"
#include "cli/plugin_setup.h"

namespace vpmoe::host::cli {
namespace {

void print_json(const LoadedPlugins& lp) {
  nlohmann::json j;
  j["search_path"] = lp.search_path;
  j["plugins"] = nlohmann::json::array();
  for (const auto& e : lp.registry.entries())
    j["plugins"].push_back({{"name", e.name},
                            {"kind", e.kind},
                            {"file", e.file},
                            {"plugin", e.plugin},
                            {"version", e.version}});
  j["errors"] = nlohmann::json::array();
  for (const auto& e : lp.report.errors)
    j["errors"].push_back({{"file", e.file}, {"message", e.message}});
  std::cout << j.dump(2) << "\n";
}

void print_table(const LoadedPlugins& lp) {
  auto entries = lp.registry.entries();
  std::vector<std::vector<std::string>> rows = {{"NAME", "KIND", "PLUGIN", "VERSION", "FILE"}};
  for (const auto& e : entries)
    rows.push_back({e.name, e.kind, e.plugin, e.version, e.file.empty() ? "(built in)" : e.file});
  std::vector<std::size_t> width(5, 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      std::string cell = r[i];
      if (i + 1 < r.size()) cell.resize(width[i] + 2, ' ');
      line += cell;
    }
    std::cout << line << "\n";
  }
  std::cout << entries.size() << " spec name(s) from " << lp.report.loaded.size()
            << " plugin file(s); " << lp.report.errors.size() << " file(s) failed to load\n";
  std::cout << "search path:";
  if (lp.search_path.empty()) std::cout << " (empty)";
  std::cout << "\n";
  for (const auto& p : lp.search_path) std::cout << "  " << p << "\n";
}

}  // namespace

int run_plugins(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("Options");
  bool json = false;
  desc.add_options()("json", po::bool_switch(&json),
                     "one JSON object {\"search_path\", \"plugins\", \"errors\"} on stdout");
  add_common_options(desc, common);
  parse_command_args(args, desc, common);
  if (common.help) {
    std::cout << "Usage: vpmoe-host plugins [--json] [--plugin-path P]... [--config RUN.toml]\n\n"
              << "Loads every plugin on the search path and lists the spec names they register\n"
              << "(name, kind, plugin name, plugin version, file). Files that fail to load are\n"
              << "warnings on stderr (and \"errors\" in --json). A global --config adds its\n"
              << "[plugins] paths.\n\n"
              << desc;
    return kExitOk;
  }
  std::vector<std::string> config_paths;
  if (common.config) config_paths = load_config(*common.config).plugins.paths;
  LoadedPlugins lp = load_plugins_for(common, config_paths);
  if (json)
    print_json(lp);
  else
    print_table(lp);
  return kExitOk;
}

}  // namespace vpmoe::host::cli
