// vpmoe-host plot RUN_DIR [--output FILE.png]
#include <iostream>

#include "plot/run_plot.h"
#include "vpmoe/log.h"

#include "cli/cli.h"

namespace vpmoe::host::cli {

int run_plot(const std::vector<std::string>& args, Common& common) {
  po::options_description desc("plot options");
  std::string run_dir, output;
  desc.add_options()("run-dir", po::value(&run_dir)->value_name("RUN_DIR"),
                     "the run's [run] dir, holding metrics.jsonl")(
      "output,o", po::value(&output)->value_name("FILE.png"),
      "where the PNG goes (default RUN_DIR/curves.png)");
  add_common_options(desc, common);
  po::positional_options_description pos;
  pos.add("run-dir", 1);
  parse_command_args(args, desc, common, &pos);
  if (common.help) {
    std::cout << "Usage: vpmoe-host plot RUN_DIR [--output FILE.png]\n\n" << desc;
    return kExitOk;
  }
  if (run_dir.empty()) throw UsageError("plot: give the run directory (vpmoe-host plot RUN_DIR)");
  if (output.empty()) output = run_dir + "/curves.png";
  const std::size_t n = plot::plot_run(run_dir, output);
  log::info("plot: " + std::to_string(n) + " point(s) -> " + output);
  return kExitOk;
}

}  // namespace vpmoe::host::cli
