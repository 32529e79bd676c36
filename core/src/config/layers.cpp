// The layer schedule: which layers attend globally and which carry a MoE FFN (1-based, as
// spec/attention.md numbers them).
#include "vpmoe/config.h"

namespace vpmoe {

bool Config::layer_is_global(int l) const {
  VPMOE_CHECK(l >= 1 && l <= model.num_layers,
              "layer " + std::to_string(l) + " outside 1.." + std::to_string(model.num_layers));
  const auto& p = attention.window_attn_pattern;
  if (!p.empty()) {  // list form: 1 = windowed
    VPMOE_CHECK(static_cast<std::size_t>(l) <= p.size(), "window_attn_skip_freq list too short");
    return p[static_cast<std::size_t>(l - 1)] == 0;
  }
  return attention.window_attn_skip_freq > 0 && l % attention.window_attn_skip_freq == 0;
}

bool Config::layer_is_moe(int l) const {
  VPMOE_CHECK(l >= 1 && l <= model.num_layers,
              "layer " + std::to_string(l) + " outside 1.." + std::to_string(model.num_layers));
  return !(moe.first_layer_dense && l == 1);
}

}  // namespace vpmoe
