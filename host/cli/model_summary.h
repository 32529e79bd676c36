#pragma once
// The human-readable summary of a validated configuration: sizes, the attention and FFN layer
// schedule, the plugins each role uses.
#include <string>
#include <utility>
#include <vector>

#include "vpmoe/config.h"

namespace vpmoe::host::cli {

// "4, 8, ..., 80" for an arithmetic run, else ranges "1-3, 5, 7-8"; "none" when empty.
std::string format_layers(const std::vector<int>& layers);

std::string model_summary(const Config& c);

// The spec names this configuration needs, each with the key that chose it.
std::vector<std::pair<std::string, std::string>> required_spec_names(const Config& c);

}  // namespace vpmoe::host::cli
