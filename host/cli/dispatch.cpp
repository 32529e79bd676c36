// Global options, the split into "global options | command | command args", and the mapping
// of exceptions to exit codes.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "vpmoe/comm.h"
#include "vpmoe/config.h"
#include "vpmoe/device.h"
#include "vpmoe/log.h"
#include "vpmoe/version.h"

#include "cli/cli.h"

namespace vpmoe::host::cli {
namespace {

void add_global_options(po::options_description& desc, Common& common) {
  auto add = desc.add_options();
  add("config,c", po::value<std::string>()->value_name("RUN.toml"),
      "train the run RUN.toml describes (metrics and checkpoints under its [run] dir)");
  add("resume",
      "with --config: continue from the latest checkpoint ([checkpoint] load, else "
      "<run dir>/checkpoints/latest)");
  add("dry-run",
      "with --config: load and validate RUN.toml and the plugins, print the model "
      "summary, train nothing");
  add("version,V", "print the version, the build tag and whether CUDA is available");
  add_common_options(desc, common);
}

// Global options that take a value as the next argument: they never name a command.
bool takes_value(const std::string& arg) {
  static const std::set<std::string> with_value = {"--config", "-c", "--plugin-path", "-P",
                                                   "--log-level"};
  return with_value.count(arg) > 0;
}

std::string usage(const po::options_description& desc) {
  std::ostringstream os;
  os << "Usage: vpmoe-host --config RUN.toml [--plugin-path P]... [--log-level L]\n"
     << "       vpmoe-host <command> [options]   (vpmoe-host <command> --help)\n"
     << "       vpmoe-host --help | --version\n\n"
     << "Trains vpMoE-style sparse language models; every model part is a plugin.\n\n"
     << "Commands:\n";
  for (const auto& c : commands()) {
    std::string name = c.name;
    name.resize(std::max<std::size_t>(name.size() + 2, 12), ' ');
    os << "  " << name << c.summary << "\n";
  }
  os << "\n" << desc << "\nExit status: 0 ok, 1 failure, 2 usage or configuration error.\n";
  return os.str();
}

void print_version() {
  std::cout << "vpmoe-host " << VPMOE_VERSION << "\n"
            << "build tag: " << VPMOE_BUILD_TAG << "\n"
            << "plugin ABI: " << VPMOE_ABI_VERSION << "\n";
  if (!VPMOE_HAS_CUDA) {
    std::cout << "CUDA: not available (built without CUDA)\n";
    return;
  }
  // The driver lists its GPUs under /proc: counted there, --version starts no CUDA context
  // (initialising the driver costs a few hundred milliseconds on a GPU machine).
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/driver/nvidia/gpus", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  std::cout << "CUDA: built with " << VPMOE_CUDA_TAG << "; "
            << (n > 0 ? std::to_string(n) + " NVIDIA GPU(s) on this machine"
                      : std::string("no NVIDIA GPU on this machine"))
            << "\n";
}

int dispatch(int argc, char** argv) {
  std::vector<std::string> argv_s(argv + 1, argv + argc);
  // The first argument that is neither an option nor an option's value names the command.
  std::size_t cmd_at = argv_s.size();
  for (std::size_t i = 0; i < argv_s.size(); ++i) {
    const std::string& a = argv_s[i];
    if (a == "--") break;
    if (!a.empty() && a[0] == '-') {
      if (takes_value(a)) ++i;
      continue;
    }
    cmd_at = i;
    break;
  }
  std::vector<std::string> global_args(argv_s.begin(), argv_s.begin() + cmd_at);

  Common common;
  po::options_description desc("Options");
  add_global_options(desc, common);
  po::variables_map vm;
  po::store(po::command_line_parser(global_args).options(desc).run(), vm);
  po::notify(vm);
  if (vm.count("config")) common.config = vm["config"].as<std::string>();
  if (vm.count("plugin-path"))
    common.plugin_paths = vm["plugin-path"].as<std::vector<std::string>>();
  if (vm.count("log-level")) common.log_level = vm["log-level"].as<std::string>();
  apply_log_level(common);

  if (cmd_at < argv_s.size()) {
    const std::string& name = argv_s[cmd_at];
    std::vector<std::string> args(argv_s.begin() + cmd_at + 1, argv_s.end());
    for (const auto& c : commands()) {
      if (name != c.name) continue;
      if (common.help) args.push_back("--help");  // vpmoe-host --help plugins
      return c.run(args, common);
    }
    std::string known;
    for (const auto& c : commands()) known += (known.empty() ? "" : ", ") + std::string(c.name);
    throw UsageError("unknown command \"" + name + "\" (commands: " + known + ")");
  }
  if (common.help) {
    std::cout << usage(desc);
    return kExitOk;
  }
  if (vm.count("version")) {
    print_version();
    return kExitOk;
  }
  common.resume = vm.count("resume") > 0;
  common.dry_run = vm.count("dry-run") > 0;
  if (common.config) return run_config(*common.config, common);
  std::cerr << usage(desc);
  throw UsageError("nothing to do: give --config RUN.toml or a command");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const UsageError& e) {
    log::error(e.what());
    std::cerr << "Try 'vpmoe-host --help'.\n";
    return kExitUsage;
  } catch (const po::error& e) {
    log::error(e.what());
    std::cerr << "Try 'vpmoe-host --help'.\n";
    return kExitUsage;
  } catch (const ConfigError& e) {
    log::error(e.what());
    log::flush();
    abort_parallel_run(kExitUsage);
    return kExitUsage;
  } catch (const std::exception& e) {
    log::error(e.what());
    log::flush();
    abort_parallel_run(kExitFailure);  // the other ranks must not wait for this one
    return kExitFailure;
  }
}

}  // namespace vpmoe::host::cli
