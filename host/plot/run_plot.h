#pragma once
// `vpmoe-host plot RUN_DIR`: the loss curves (training loss per step, validation loss per
// evaluation) and the throughput (tokens/s per step) of <RUN_DIR>/metrics.jsonl, one panel
// each, as a PNG. A resumed run's file may hold a step twice: the last record wins.
#include <cstdint>
#include <string>
#include <vector>

namespace vpmoe::host::plot {

struct Series {
  std::vector<double> x, y;
};

struct RunCurves {
  Series loss, valid_loss, tokens_per_s;
};

// Errors name the file and line of a bad record.
RunCurves read_metrics(const std::string& path);
// Writes the PNG; returns the number of points drawn.
std::size_t plot_run(const std::string& run_dir, const std::string& png_path);

}  // namespace vpmoe::host::plot
