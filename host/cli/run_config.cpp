// vpmoe-host --config RUN.toml: load and validate the configuration and the plugins, print the
// model summary, then train (train/run.h) unless --dry-run.
#include <iostream>

#include "vpmoe/config.h"
#include "vpmoe/log.h"
#include "vpmoe/parallel.h"
#include "vpmoe/tokenizer.h"

#include "cli/cli.h"
#include "cli/model_summary.h"
#include "cli/plugin_setup.h"
#include "train/parallel_layout.h"
#include "train/run.h"

namespace vpmoe::host::cli {

int run_config(const std::string& path, Common& common) {
  Config cfg = load_config(path);
  apply_log_level(common, cfg.log.level);
  log::info("configuration " + path + " is valid");
  // The layout of this launch, refused before anything is allocated when ep x tp cannot fill
  // the world.
  const ParallelLayout layout = train::parallel_layout(cfg, log::world_size(), log::rank());
  if (layout.rank == 0) log::info(layout.describe(cfg.moe.num_experts));

  LoadedPlugins lp = load_plugins_for(common, cfg.plugins.paths);
  std::size_t missing = 0;
  for (const auto& [name, key] : required_spec_names(cfg)) {
    if (lp.registry.contains(name)) continue;
    ++missing;
    log::warn("spec name \"" + name + "\" (" + key +
              ") is not registered by any plugin on the search path");
  }
  log::info(std::to_string(lp.report.loaded.size()) + " plugin file(s) loaded, " +
            std::to_string(lp.registry.entries().size()) + " spec name(s), " +
            std::to_string(missing) + " required name(s) missing");

  // The tokenizer is built at start-up so that a wrong asset or vocabulary size fails now,
  // not after the model is built.
  if (lp.registry.contains(cfg.plugins.tokenizer)) {
    BuildArgs args;
    args.config = &cfg;
    const auto id = lp.registry.create<Tokenizer>(cfg.plugins.tokenizer, args)->identity();
    log::info("tokenizer " + id.name + ": vocabulary " + std::to_string(id.vocab_size) +
              ", asset sha256 " + id.asset_sha256);
  }

  if (layout.rank == 0) std::cout << model_summary(cfg) << std::flush;
  if (common.dry_run) {
    if (layout.rank == 0)
      std::cout << "dry run: the configuration and plugins are valid; nothing was trained.\n";
    return kExitOk;
  }
  if (missing > 0)
    throw ConfigError(path + ": " + std::to_string(missing) +
                      " spec name(s) the run needs are not provided by any plugin (see above)");
  train::RunOptions o;
  o.resume = common.resume;
  const train::RunResult r = train::train_run(cfg, lp.registry, o);
  if (log::rank() != 0) return kExitOk;  // rank 0 reports for the data-parallel group
  std::cout << "trained " << r.losses.size() << " step(s)"
            << (r.losses.empty() ? "" : ", last loss " + std::to_string(r.losses.back()))
            << (r.valid_losses.empty()
                    ? ""
                    : ", validation loss " + std::to_string(r.valid_losses.front()) + " -> " +
                          std::to_string(r.valid_losses.back()))
            << (r.checkpoint.empty() ? "" : "; checkpoint " + r.checkpoint) << "\n";
  return kExitOk;
}

}  // namespace vpmoe::host::cli
