#include "cli/tokenizer_setup.h"

#include "cli/plugin_setup.h"

namespace vpmoe::host::cli {

OpenTokenizer open_tokenizer(const Common& common) {
  OpenTokenizer out;
  if (common.config) out.config = load_config(*common.config);
  LoadedPlugins lp = load_plugins_for(common, out.config.plugins.paths);
  BuildArgs args;
  args.config = &out.config;
  out.tokenizer = lp.registry.create<Tokenizer>(out.config.plugins.tokenizer, args);
  return out;
}

}  // namespace vpmoe::host::cli
