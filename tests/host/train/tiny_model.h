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

// moe_keys go into [moe]; sections (whole "[name]\n..." sections) follow it.
inline Config tiny_config(const std::string& moe_keys = "", const std::string& sections = "") {
  return parse_config(
      "[tokenizer]\nvocab_size = 64\n"
      "[model]\nnum_layers = 4\nhidden_size = 16\nnum_attention_heads = 4\n"
      "num_query_groups = 2\nhead_dim = 4\nffn_hidden_size = 8\n"
      "[attention]\nwindow_size = 4\nwindow_attn_skip_freq = 4\n"
      "[tpa]\ntpa_rank = 2\ntpa_q_rank = 4\n"
      "[moe]\nnum_experts = 4\ntopk = 2\nshared_expert_size = 8\nrouter_num_groups = 2\n"
      "router_group_topk = 1\n" +
          moe_keys + sections,
      "run.toml");
}

inline Registry in_tree_plugins() {
  Registry reg;
  const auto report = load_plugins({VPMOE_PLUGIN_DIR}, reg);
  for (const auto& e : report.errors) ADD_FAILURE() << e.message;
  return reg;
}

}  // namespace vpmoe::testing
