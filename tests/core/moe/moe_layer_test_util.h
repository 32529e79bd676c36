#pragma once
// The small MoE configuration and the layer built from the in-tree plugins' code, shared by
// the MoE layer tests (single process and under mpirun).
#include <memory>
#include <string>

#include "deepseek_router.h"
#include "dense_ffn.h"
#include "grouped_mlp.h"
#include "moe/local_dispatcher.h"
#include "moe/moe_layer.h"
#include "vpmoe/config.h"

namespace vpmoe::testing {

inline Config small_config(const std::string& moe =
                               "num_experts = 8\ntopk = 2\nrouter_num_groups = 2\n"
                               "router_group_topk = 1\n") {
  return parse_config(
      "[model]\nnum_layers = 4\nhidden_size = 8\nhead_dim = 2\nnum_attention_heads = 4\n"
      "num_query_groups = 2\nffn_hidden_size = 6\n[moe]\nshared_expert_size = 5\n"
      "aux_loss_coeff = 0.2\n" +
          moe,
      "run.toml");
}

inline std::unique_ptr<moe::MoeLayer> make_layer(const Config& c, Device dev = Device::cpu(),
                                                 bool bf16 = false) {
  BuildArgs a;
  a.config = &c;
  a.layer = LayerInfo{2, c.model.num_layers, false, 0};
  a.device = dev;
  a.bf16_compute = bf16;
  return std::make_unique<moe::MoeLayer>(
      router::build(a), experts::build(a), ffn::build(a),
      std::make_unique<moe::LocalDispatcher>(c.moe.num_experts, dev), c.moe.topk);
}

}  // namespace vpmoe::testing
