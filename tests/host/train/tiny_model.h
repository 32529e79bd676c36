#pragma once
// The tiny vpMoE of the trainer tests (4 layers, TPA local and GQA global on the 3:1 schedule,
// dense layer 1, MoE layers of 4 experts with a shared expert) and the in-tree plugins loaded
// from the build tree.
#include <gtest/gtest.h>

#include <string>

#include "registry/plugin_loader.h"
#include "vpmoe/config.h"
#include "vpmoe/registry.h"

namespace vpmoe::testing {

// The sections' keys, each replaceable as a whole; `sections` holds further whole sections.
struct TinyKeys {
  std::string tokenizer = "vocab_size = 64\n";
  std::string model =
      "num_layers = 4\nhidden_size = 16\nnum_attention_heads = 4\n"
      "num_query_groups = 2\nhead_dim = 4\nffn_hidden_size = 8\n";
  std::string attention = "window_size = 4\nwindow_attn_skip_freq = 4\n";
  std::string moe_extra;  // appended to [moe]
  std::string sections;
};

inline std::string tiny_config_text(const TinyKeys& k) {
  return "[tokenizer]\n" + k.tokenizer + "[model]\n" + k.model + "[attention]\n" + k.attention +
         "[tpa]\ntpa_rank = 2\ntpa_q_rank = 4\n"
         "[moe]\nnum_experts = 4\ntopk = 2\nshared_expert_size = 8\n"
         "router_num_groups = 2\nrouter_group_topk = 1\n" +
         k.moe_extra + k.sections;
}

inline Config tiny_config(const TinyKeys& k) {
  return parse_config(tiny_config_text(k), "run.toml");
}

// moe_keys go into [moe]; sections (whole "[name]\n..." sections) follow it.
inline Config tiny_config(const std::string& moe_keys = "", const std::string& sections = "") {
  TinyKeys k;
  k.moe_extra = moe_keys;
  k.sections = sections;
  return tiny_config(k);
}

inline Registry in_tree_plugins() {
  Registry reg;
  const auto report = load_plugins({VPMOE_PLUGIN_DIR}, reg);
  for (const auto& e : report.errors) ADD_FAILURE() << e.message;
  return reg;
}

}  // namespace vpmoe::testing
