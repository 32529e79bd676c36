#pragma once
// [train] recompute (docs/training.md "Activation recomputation"): which part of every
// transformer layer keeps only its input during the forward and runs again, as a
// recomputation (Context::recomputing), just before its backward.
#include <string>

namespace vpmoe::model {

enum class Recompute {
  none,       // everything kept (the default)
  moe,        // the FFN sublayer: pre-norm + the MoE layer (or a dense layer's FFN)
  attention,  // the attention sublayer: pre-norm + the attention plugin
  full,       // the whole layer
};

// "none", "moe", "attention", "full" (what the config accepts); anything else throws Error.
Recompute recompute_from_name(const std::string& name);
const char* recompute_name(Recompute r);

}  // namespace vpmoe::model
