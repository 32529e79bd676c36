#pragma once
// The attention settings both plugins read from run.toml ([model], [attention], [train]) and
// the checks on them; each error names the key and where it was set.
#include <cstdint>
#include <string>

#include "vpmoe/registry.h"

namespace vpmoe::attention {

enum class Softmax { vanilla, learnable, off_by_one };

struct AttentionOptions {
  std::string spec_name;
  int hidden = 1024, heads = 8, groups = 2, head_dim = 128;
  int layer = 1, num_layers = 1;
  bool global = false;
  int window = 0;  // keys per query including itself; 0 = causal (global layers)
  bool qk_norm = true, qkv_bias = true, out_bias = true;
  Softmax softmax = Softmax::learnable;
  bool value_residual = true;
  double value_residual_init = 1.0;
  double norm_eps = 1e-5, init_std = 0.02;
  std::uint64_t seed = 1234;
  bool bf16 = false;   // bf16 weights and activations on CUDA
  std::string prefix;  // parameter names, e.g. "layers.3.attention"
};

AttentionOptions attention_options(const BuildArgs& args, const char* spec_name);

// Mean keys per query over a sequence of seq_len: min(i + 1, window) averaged (window 0: causal).
double mean_keys(std::int64_t seq_len, std::int64_t window);

}  // namespace vpmoe::attention
