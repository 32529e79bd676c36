#pragma once
// The options score and evaluate share: the checkpoint, a configuration to use instead of its
// run.toml copy, the device, and the plugin search path.
#include <string>

#include "infer/loader.h"

#include "cli/cli.h"

namespace vpmoe::host::cli {

struct InferArgs {
  std::string checkpoint, config, device;
};

void add_infer_options(po::options_description& desc, InferArgs& a);
// The loader's options; the global --config (before the command) counts as --config.
infer::InferOptions infer_options(const InferArgs& a, const Common& common, const char* command);

}  // namespace vpmoe::host::cli
