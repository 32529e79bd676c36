#pragma once
#include <cstdint>

namespace vpmoe {

// Where a module sits in the layer stack; layers are numbered from 1 as in spec/attention.md.
struct LayerInfo {
  int layer = 1;
  int num_layers = 1;
  bool global = false;  // full causal attention; else sliding window
  int window = 0;       // keys per query including itself (local layers)
};

}  // namespace vpmoe
