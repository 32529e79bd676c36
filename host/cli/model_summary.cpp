#include "cli/model_summary.h"

#include <sstream>

namespace vpmoe::host::cli {

std::string format_layers(const std::vector<int>& v) {
  if (v.empty()) return "none";
  bool arithmetic = v.size() > 3;
  for (std::size_t i = 2; arithmetic && i < v.size(); ++i)
    arithmetic = v[i] - v[i - 1] == v[1] - v[0];
  if (arithmetic && v[1] - v[0] > 1)
    return std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", ..., " +
           std::to_string(v.back());
  std::string out;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(v[i]);
    if (j > i) out += "-" + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

std::string model_summary(const Config& c) {
  const auto& m = c.model;
  std::vector<int> global, local, dense, moe;
  std::string attn_row, ffn_row;
  for (int l = 1; l <= m.num_layers; ++l) {
    (c.layer_is_global(l) ? global : local).push_back(l);
    (c.layer_is_moe(l) ? moe : dense).push_back(l);
    attn_row += c.layer_is_global(l) ? 'G' : 'L';
    ffn_row += c.layer_is_moe(l) ? 'M' : 'D';
  }
  std::ostringstream os;
  os << "config: " << c.path;
  if (!c.run.model_config.empty()) os << " (model from " << c.run.model_config << ")";
  os << "\nrun: \"" << c.run.name << "\" in " << c.run.dir << ", device " << c.run.device
     << ", seed " << c.run.seed << "\n";
  os << "model: " << m.num_layers << " layers, hidden " << m.hidden_size << ", "
     << m.num_attention_heads << " heads x " << m.head_dim << " (" << m.num_query_groups
     << " query groups), vocab " << c.tokenizer.vocab_size << ", sequence "
     << c.attention.max_sequence_length << "\n";
  os << "attention: " << local.size() << " local (window " << c.attention.window_size << ", "
     << c.plugins.attention_local << "), " << global.size() << " global ("
     << c.plugins.attention_global << "); positions " << c.attention.position_embedding_type
     << "\n";
  os << "  global layers: " << format_layers(global) << "\n";
  std::string local_text = format_layers(local);
  if (local_text.size() > 60) local_text = "the other " + std::to_string(local.size());
  os << "  local layers:  " << local_text << "\n";
  os << "ffn: " << dense.size() << " dense (width " << m.ffn_hidden_size << "), " << moe.size()
     << " MoE (" << c.moe.num_experts << " experts of width " << m.ffn_hidden_size << ", top-"
     << c.moe.topk << ", " << c.moe.router_num_groups << " groups keep " << c.moe.router_group_topk;
  if (c.moe.shared_expert) os << ", shared expert " << c.moe.shared_expert_size;
  os << ")\n";
  os << "  dense layers: " << format_layers(dense) << "\n";
  os << "  MoE layers:   " << format_layers(moe) << "\n";
  os << "schedule (L local / G global, D dense / M MoE, layer 1 first):\n"
     << "  attention " << attn_row << "\n"
     << "  ffn       " << ffn_row << "\n";
  const auto& t = c.train;
  os << "train: " << t.train_iters << " iterations, micro-batch " << t.micro_batch_size
     << ", global batch " << t.global_batch_size << ", lr " << t.lr << " -> " << t.min_lr << " ("
     << t.lr_decay_style << ", warmup " << t.lr_warmup_iters << "), " << t.precision
     << ", recompute " << t.recompute << "; optimizer " << c.optimizer.name << " + "
     << c.plugins.optimizer_aux << "; loss " << c.plugins.loss << "\n";
  os << "parallel: tp " << c.parallel.tensor_model_parallel_size << ", ep "
     << c.parallel.expert_model_parallel_size << ", backend " << c.parallel.backend << "; data "
     << c.data.source << "\n";
  return os.str();
}

std::vector<std::pair<std::string, std::string>> required_spec_names(const Config& c) {
  bool any_global = false, any_local = false, any_dense = false, any_moe = false;
  for (int l = 1; l <= c.model.num_layers; ++l) {
    (c.layer_is_global(l) ? any_global : any_local) = true;
    (c.layer_is_moe(l) ? any_moe : any_dense) = true;
  }
  const auto& p = c.plugins;
  std::vector<std::pair<std::string, std::string>> out;
  if (any_local) out.push_back({p.attention_local, "[plugins] attention_local"});
  if (any_global) out.push_back({p.attention_global, "[plugins] attention_global"});
  if (c.attention.position_embedding_type != "none") {
    if (any_local) out.push_back({p.positional_local, "[plugins] positional_local"});
    if (any_global) out.push_back({p.positional_global, "[plugins] positional_global"});
  }
  if (any_dense) out.push_back({p.ffn_dense, "[plugins] ffn_dense"});
  if (any_moe) {
    out.push_back({p.moe_router, "[plugins] moe_router"});
    out.push_back({p.moe_experts, "[plugins] moe_experts"});
  }
  out.push_back({"optimizer." + c.optimizer.name, "[optimizer] name"});
  out.push_back({p.optimizer_aux, "[plugins] optimizer_aux"});
  out.push_back({p.tokenizer, "[plugins] tokenizer"});
  out.push_back({p.loss, "[plugins] loss"});
  return out;
}

}  // namespace vpmoe::host::cli
