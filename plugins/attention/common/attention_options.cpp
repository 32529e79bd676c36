#include "attention_options.h"

#include <string>

#include "vpmoe/config.h"
#include "vpmoe/error.h"

namespace vpmoe::attention {

AttentionOptions attention_options(const BuildArgs& args, const char* spec_name) {
  const std::string spec(spec_name);
  if (!args.config) throw Error(spec + " needs the run configuration");
  const Config& c = *args.config;
  AttentionOptions o;
  o.spec_name = spec;
  o.hidden = c.model.hidden_size;
  o.heads = c.model.num_attention_heads;
  o.groups = c.model.num_query_groups;
  o.head_dim = c.model.head_dim;
  o.layer = args.layer.layer;
  o.num_layers = args.layer.num_layers;
  o.global = args.layer.global;
  o.qk_norm = c.model.qk_layernorm;
  o.qkv_bias = c.model.add_qkv_bias;
  o.out_bias = c.model.add_bias_linear;
  o.value_residual = c.model.value_residual;
  o.value_residual_init = c.model.value_residual_init;
  o.norm_eps = c.train.norm_epsilon;
  o.init_std = c.train.init_method_std;
  o.seed = args.seed;
  o.bf16 = args.bf16_compute && args.device.is_cuda();
  o.prefix = "layers." + std::to_string(o.layer) + ".attention";

  auto positive = [&](int v, const char* key) {
    if (v <= 0) c.fail(key, spec + " needs a positive value, found " + std::to_string(v));
  };
  positive(o.hidden, "model.hidden_size");
  positive(o.heads, "model.num_attention_heads");
  positive(o.groups, "model.num_query_groups");
  positive(o.head_dim, "model.head_dim");
  if (o.heads % o.groups != 0)
    c.fail("model.num_query_groups", spec + ": " + std::to_string(o.heads) +
                                         " query heads cannot be split into " +
                                         std::to_string(o.groups) + " KV groups");
  if (!o.global) {
    o.window = c.attention.window_size;
    if (o.window <= 0)
      c.fail("attention.window_size", spec + " on local layer " + std::to_string(o.layer) +
                                          " needs a sliding window > 0, found " +
                                          std::to_string(o.window));
  }
  if (c.attention.attention_dropout != 0.0)
    c.fail("attention.attention_dropout",
           spec + " has no attention dropout (vpMoE trains with 0), found " +
               std::to_string(c.attention.attention_dropout));
  const std::string& sm = c.model.softmax_type;
  if (sm == "learnable")
    o.softmax = Softmax::learnable;
  else if (sm == "vanilla")
    o.softmax = Softmax::vanilla;
  else if (sm == "off-by-one")
    o.softmax = Softmax::off_by_one;
  else
    c.fail("model.softmax_type", "expected learnable, vanilla or off-by-one, found " + sm);
  return o;
}

double mean_keys(std::int64_t T, std::int64_t W) {
  if (T <= 0) return 0;
  if (W <= 0 || W >= T) return double(T + 1) / 2.0;
  // Rows 0..W-1 see i + 1 keys, the rest W.
  return (double(W) * double(W + 1) / 2.0 + double(T - W) * double(W)) / double(T);
}

}  // namespace vpmoe::attention
