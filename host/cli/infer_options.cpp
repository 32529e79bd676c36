#include "cli/infer_options.h"

namespace vpmoe::host::cli {

void add_infer_options(po::options_description& desc, InferArgs& a) {
  desc.add_options()("checkpoint", po::value(&a.checkpoint)->value_name("DIR"),
                     "a checkpoint (step_N/) or a checkpoints directory (its `latest` is "
                     "followed)")(
      "config", po::value(&a.config)->value_name("RUN.toml"),
      "build the model from this configuration instead of the checkpoint's run.toml copy")(
      "device", po::value(&a.device)->value_name("D"),
      "auto, cpu or cuda (default: the configuration's [run] device)");
}

infer::InferOptions infer_options(const InferArgs& a, const Common& common, const char* command) {
  if (a.checkpoint.empty())
    throw UsageError(std::string(command) + ": --checkpoint DIR is required");
  if (!a.device.empty() && a.device != "auto" && a.device != "cpu" && a.device != "cuda")
    throw UsageError(std::string(command) + ": --device: expected auto, cpu or cuda, found \"" +
                     a.device + "\"");
  infer::InferOptions o;
  o.checkpoint = a.checkpoint;
  o.config = !a.config.empty() ? a.config : common.config.value_or("");
  o.device = a.device;
  o.plugin_paths = common.plugin_paths;
  return o;
}

}  // namespace vpmoe::host::cli
