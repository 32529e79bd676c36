#pragma once
// The vpmoe-host command line: global options, then either --config RUN.toml (load, validate,
// later train) or a command from the table in commands.cpp, each with its own options.
// A new command is one file with a run function plus one line in that table.
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace vpmoe::host::cli {

namespace po = boost::program_options;

// Exit codes: 0 ok, 1 any other failure, 2 usage or configuration error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// A bad command line; main prints it with a pointer to --help and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Options every command accepts, before or after its name.
struct Common {
  std::optional<std::string> config;      // --config RUN.toml
  std::vector<std::string> plugin_paths;  // --plugin-path, in order
  std::optional<std::string> log_level;   // --log-level
  bool help = false;
  bool resume = false;   // --resume (with --config)
  bool dry_run = false;  // --dry-run (with --config)
};

struct Command {
  const char* name;
  const char* summary;  // one line for the help's command list
  // args: everything after the command's name; common: the options given before it.
  int (*run)(const std::vector<std::string>& args, Common& common);
};

// The command table (commands.cpp).
const std::vector<Command>& commands();

// Adds --plugin-path, --log-level and --help, writing into common (--config only globally).
void add_common_options(po::options_description& desc, Common& common);
// Parses a command's args against desc (plus the common options) into common; throws
// UsageError for anything desc does not know. Applies --log-level. Bare arguments go to the
// positional options when given.
po::variables_map parse_command_args(
    const std::vector<std::string>& args, po::options_description& desc, Common& common,
    const po::positional_options_description* positional = nullptr);
// Sets the log level from --log-level (or, when absent, from fallback: the config's [log]).
void apply_log_level(const Common& common, const std::string& fallback = "");

// The program's entry point: dispatches and maps exceptions to exit codes.
int main(int argc, char** argv);

// Commands (one file each).
int run_plugins(const std::vector<std::string>& args, Common& common);
int run_tokenize(const std::vector<std::string>& args, Common& common);
int run_detokenize(const std::vector<std::string>& args, Common& common);
int run_preprocess(const std::vector<std::string>& args, Common& common);
int run_synth_arithmetic(const std::vector<std::string>& args, Common& common);
int run_plot(const std::vector<std::string>& args, Common& common);
int run_checkpoint(const std::vector<std::string>& args, Common& common);
int run_score(const std::vector<std::string>& args, Common& common);
int run_evaluate(const std::vector<std::string>& args, Common& common);
int run_generate(const std::vector<std::string>& args, Common& common);
// The --config action without a command: train (or, with --dry-run, validate and summarise).
int run_config(const std::string& path, Common& common);

}  // namespace vpmoe::host::cli
