#include "train/model_builder.h"

#include <algorithm>

#include "moe/all_to_all_dispatcher.h"
#include "moe/local_dispatcher.h"
#include "moe/moe_layer.h"
#include "vpmoe/error.h"

namespace vpmoe::host::train {
namespace {

// reg.create, or a failure naming the [plugins] key and the names of that kind that exist.
template <class I>
std::unique_ptr<I> create(const Config& c, const Registry& reg, const std::string& key,
                          const std::string& name, const BuildArgs& a) {
  const std::vector<std::string> names = reg.names_of_kind(I::kind);
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    c.fail(key, "no loaded plugin provides " + name + "; the " + std::string(I::kind) +
                    " names found: " + (list.empty() ? "none" : list));
  }
  return reg.create<I>(name, a);
}

// All-to-all over the ep group when the experts are sharded, else the local permutation.
std::unique_ptr<moe::TokenDispatcher> dispatcher(const Config& c, const ModelTarget& t) {
  if (t.parallel && t.parallel->layout.ep > 1)
    return std::make_unique<moe::AllToAllDispatcher>(c.moe.num_experts, t.parallel->ep, t.device);
  return std::make_unique<moe::LocalDispatcher>(c.moe.num_experts, t.device);
}

}  // namespace

std::unique_ptr<model::GptModel> build_model(const Config& c, const Registry& reg,
                                             const ModelTarget& t) {
  const PluginsConfig& pc = c.plugins;
  const int L = c.model.num_layers;
  std::vector<std::unique_ptr<model::TransformerLayer>> layers;
  for (int l = 1; l <= L; ++l) {
    const bool global = c.layer_is_global(l);
    BuildArgs a;
    a.config = &c;
    a.layer = LayerInfo{l, L, global, global ? 0 : c.attention.window_size};
    a.device = t.device;
    a.bf16_compute = t.bf16;
    a.seed = t.seed;
    a.parallel = t.parallel;
    a.positional = std::shared_ptr<Positional>(
        global ? create<Positional>(c, reg, "plugins.positional_global", pc.positional_global, a)
               : create<Positional>(c, reg, "plugins.positional_local", pc.positional_local, a));
    std::unique_ptr<Attention> attention =
        global ? create<Attention>(c, reg, "plugins.attention_global", pc.attention_global, a)
               : create<Attention>(c, reg, "plugins.attention_local", pc.attention_local, a);
    std::unique_ptr<FeedForward> ffn;
    if (c.layer_is_moe(l)) {
      std::unique_ptr<FeedForward> shared;
      if (c.moe.shared_expert)
        shared = create<FeedForward>(c, reg, "plugins.ffn_dense", pc.ffn_dense, a);
      ffn = std::make_unique<moe::MoeLayer>(
          create<Router>(c, reg, "plugins.moe_router", pc.moe_router, a),
          create<Experts>(c, reg, "plugins.moe_experts", pc.moe_experts, a), std::move(shared),
          dispatcher(c, t), c.moe.topk);
    } else {
      ffn = create<FeedForward>(c, reg, "plugins.ffn_dense", pc.ffn_dense, a);
    }
    layers.push_back(std::make_unique<model::TransformerLayer>(
        std::move(attention), std::move(ffn), c.model.hidden_size, c.train.norm_epsilon,
        "layers." + std::to_string(l), t.device));
  }
  model::GptOptions o;
  o.vocab = c.tokenizer.vocab_size;
  o.hidden = c.model.hidden_size;
  o.eps = c.train.norm_epsilon;
  o.init_std = c.train.init_method_std;
  o.seed = t.seed;
  o.device = t.device;
  o.bf16 = t.bf16;
  o.recompute = model::recompute_from_name(c.train.recompute);
  return std::make_unique<model::GptModel>(o, std::move(layers));
}

}  // namespace vpmoe::host::train
