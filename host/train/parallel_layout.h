#pragma once
// The run's parallel layout from the configuration and the launch's world size, refused with a
// config error ([parallel] key, file:line:col) when tp x ep does not divide the world.
#include "vpmoe/config.h"
#include "vpmoe/parallel.h"

namespace vpmoe::host::train {

ParallelLayout parallel_layout(const Config& c, int world, int rank);

}  // namespace vpmoe::host::train
