// Options shared by every command and their parsing.
#include "vpmoe/log.h"

#include "cli/cli.h"

namespace vpmoe::host::cli {

void add_common_options(po::options_description& desc, Common& common) {
  auto add = desc.add_options();
  add("plugin-path,P", po::value<std::vector<std::string>>()->composing()->value_name("P"),
      "plugin file or folder, searched before [plugins] paths, VPMOE_PLUGIN_PATH and the "
      "install's lib/vpmoe/plugins (repeatable)");
  add("log-level", po::value<std::string>()->value_name("L"),
      "trace, debug, info, warn, error or off (default: the config's [log] level, else info)");
  add("help,h", po::bool_switch(&common.help), "show this help");
}

po::variables_map parse_command_args(const std::vector<std::string>& args,
                                     po::options_description& desc, Common& common,
                                     const po::positional_options_description* positional) {
  po::variables_map vm;
  po::command_line_parser parser(args);
  parser.options(desc);
  if (positional) parser.positional(*positional);
  po::store(parser.run(), vm);
  po::notify(vm);
  if (vm.count("plugin-path")) {
    const auto& p = vm["plugin-path"].as<std::vector<std::string>>();
    common.plugin_paths.insert(common.plugin_paths.end(), p.begin(), p.end());
  }
  if (vm.count("log-level")) common.log_level = vm["log-level"].as<std::string>();
  apply_log_level(common);
  return vm;
}

void apply_log_level(const Common& common, const std::string& fallback) {
  std::string name = common.log_level ? *common.log_level : fallback;
  if (name.empty()) return;
  auto level = log::parse_level(name);
  if (!level)
    throw UsageError("--log-level: expected trace, debug, info, warn, error or off, found \"" +
                     name + "\"");
  log::set_level(*level);
}

}  // namespace vpmoe::host::cli
