// Checks across keys. Each names the key a user would change and points at it (or at its
// section when the key was left at its default).
#include <sstream>

#include "config/config_internal.h"
#include "config/values.h"

namespace vpmoe::config_detail {
namespace {

std::string str(long long x) {
  return std::to_string(x);
}

void validate_model(const Config& c) {
  const auto& m = c.model;
  if (static_cast<long long>(m.num_attention_heads) * m.head_dim != m.hidden_size)
    c.fail("model.hidden_size",
           "expected num_attention_heads × head_dim = " + str(m.num_attention_heads) + " × " +
               str(m.head_dim) + " = " + str(1LL * m.num_attention_heads * m.head_dim) +
               ", found " + str(m.hidden_size));
  if (m.num_attention_heads % m.num_query_groups != 0)
    c.fail("model.num_query_groups", "expected a divisor of num_attention_heads (" +
                                         str(m.num_attention_heads) + "), found " +
                                         str(m.num_query_groups));
}

void validate_attention(const Config& c) {
  const auto& p = c.attention.window_attn_pattern;
  if (!p.empty() && static_cast<long long>(p.size()) != c.model.num_layers)
    c.fail("attention.window_attn_skip_freq", "expected a list of num_layers (" +
                                                  str(c.model.num_layers) + ") entries, found " +
                                                  str(static_cast<long long>(p.size())));
}

void validate_moe(const Config& c) {
  const auto& e = c.moe;
  if (e.topk > e.num_experts)
    c.fail("moe.topk",
           "expected at most num_experts (" + str(e.num_experts) + "), found " + str(e.topk));
  if (e.num_experts % e.router_num_groups != 0)
    c.fail("moe.router_num_groups", "expected a divisor of num_experts (" + str(e.num_experts) +
                                        "), found " + str(e.router_num_groups));
  if (e.router_group_topk > e.router_num_groups)
    c.fail("moe.router_group_topk", "expected at most router_num_groups (" +
                                        str(e.router_num_groups) + "), found " +
                                        str(e.router_group_topk));
  // Each kept group contributes its top topk/group_topk scores; that must be at least one.
  if (e.router_group_topk > e.topk)
    c.fail("moe.router_group_topk",
           "expected at most topk (" + str(e.topk) + "), found " + str(e.router_group_topk));
  // vpMoE's renderer requires it: each kept group gives topk / group_topk experts.
  if (e.topk % e.router_group_topk != 0)
    c.fail("moe.router_group_topk",
           "expected a divisor of topk (" + str(e.topk) + "), found " + str(e.router_group_topk));
  long long reachable = 1LL * e.router_group_topk * (e.num_experts / e.router_num_groups);
  if (e.topk > reachable)
    c.fail("moe.topk", "expected at most router_group_topk × experts per group = " +
                           str(reachable) + ", found " + str(e.topk));
}

void validate_optimizer(const Config& c) {
  const auto& o = c.optimizer;
  if (o.normuon_aux_lr && o.normuon_aux_min_lr && *o.normuon_aux_min_lr > *o.normuon_aux_lr)
    c.fail("optimizer.normuon_aux_min_lr", "expected at most normuon_aux_lr (" +
                                               num(*o.normuon_aux_lr) + "), found " +
                                               num(*o.normuon_aux_min_lr));
}

void validate_loss(const Config& c) {
  const auto& l = c.loss;
  if (l.reasoning_weight == 0 && l.final_weight == 0)
    c.fail(c.origins.count("loss.final_weight") ? "loss.final_weight" : "loss.reasoning_weight",
           "expected reasoning_weight or final_weight > 0 (the objective would be zero), found "
           "both 0");
  if (l.kd_weight_min > l.kd_weight_max)
    c.fail("loss.kd_weight_min", "expected at most kd_weight_max (" + num(l.kd_weight_max) +
                                     "), found " + num(l.kd_weight_min));
}

void validate_data(const Config& c) {
  const auto& d = c.data;
  if (d.source == "indexed" && d.paths.empty())
    c.fail("data.paths", c.origins.count("data.paths")
                             ? "expected at least one dataset prefix when source = \"indexed\", "
                               "found an empty list"
                             : "expected dataset prefixes (PREFIX of PREFIX.bin/.idx) when "
                               "source = \"indexed\", found no paths key");
  if (!d.weights.empty() && d.weights.size() != d.paths.size())
    c.fail("data.weights", "expected one weight per path (" + str(d.paths.size()) + "), found " +
                               str(d.weights.size()));
}

void validate_train(const Config& c) {
  const auto& t = c.train;
  if (t.global_batch_size % t.micro_batch_size != 0)
    c.fail("train.global_batch_size", "expected a multiple of micro_batch_size (" +
                                          str(t.micro_batch_size) + "), found " +
                                          str(t.global_batch_size));
  if (t.min_lr > t.lr)
    c.fail("train.min_lr", "expected at most lr (" + num(t.lr) + "), found " + num(t.min_lr));
  if (t.decoupled_lr && t.decoupled_min_lr && *t.decoupled_min_lr > *t.decoupled_lr)
    c.fail("train.decoupled_min_lr", "expected at most decoupled_lr (" + num(*t.decoupled_lr) +
                                         "), found " + num(*t.decoupled_min_lr));
  int decay = t.lr_decay_iters > 0 ? t.lr_decay_iters : t.train_iters;
  if (t.lr_warmup_iters > decay)
    c.fail("train.lr_warmup_iters", "expected at most the decay iterations (" + str(decay) +
                                        "), found " + str(t.lr_warmup_iters));
  if (t.lr_decay_style == "WSD" && t.lr_wsd_decay_iters > decay)
    c.fail("train.lr_wsd_decay_iters", "expected at most the decay iterations (" + str(decay) +
                                           "), found " + str(t.lr_wsd_decay_iters));
}

void validate_parallel(const Config& c) {
  const auto& p = c.parallel;
  // Tensor parallelism is not built: hidden 1024 does not need it (issue 15).
  if (p.tensor_model_parallel_size != 1)
    c.fail("parallel.tensor_model_parallel_size",
           "tensor parallelism is not supported (expected 1), found " +
               str(p.tensor_model_parallel_size));
  if (c.model.num_query_groups % p.tensor_model_parallel_size != 0)
    c.fail("parallel.tensor_model_parallel_size", "expected a divisor of num_query_groups (" +
                                                      str(c.model.num_query_groups) + "), found " +
                                                      str(p.tensor_model_parallel_size));
  if (c.moe.num_experts % p.expert_model_parallel_size != 0)
    c.fail("parallel.expert_model_parallel_size", "expected a divisor of num_experts (" +
                                                      str(c.moe.num_experts) + "), found " +
                                                      str(p.expert_model_parallel_size));
}

}  // namespace

void validate(const Config& c) {
  validate_model(c);
  validate_attention(c);
  validate_moe(c);
  validate_optimizer(c);
  validate_loss(c);
  validate_data(c);
  validate_train(c);
  validate_parallel(c);
}

}  // namespace vpmoe::config_detail
