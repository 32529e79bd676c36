// The command table: later issues add tokenize, detokenize, preprocess and plot here.
#include "cli/cli.h"

namespace vpmoe::host::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"plugins", "list every registered spec name: kind, plugin file, plugin name, version",
       run_plugins},
  };
  return table;
}

}  // namespace vpmoe::host::cli
