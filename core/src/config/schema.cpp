// Every section and key of run.toml, bound to the field of Config it fills, with its type and
// single-key range. docs/config.md documents the same table; keep them in step.
#include <climits>

#include "config/config_internal.h"
#include "config/values.h"

namespace vpmoe::config_detail {
namespace {

template <class S>
class SectionBuilder {
 public:
  SectionBuilder(std::string name, S Config::*sec) : sec_(sec) { out_.name = std::move(name); }

  SectionBuilder& integer(const char* key, int S::*m, std::int64_t lo,
                          std::int64_t hi = INT32_MAX) {
    return add(key, [=](S& s, const toml::node& n, const KeyCtx& k) {
      s.*m = static_cast<int>(read_int(n, k, lo, hi));
    });
  }
  template <class I>
  SectionBuilder& integer64(const char* key, I S::*m, std::int64_t lo) {
    return add(key, [=](S& s, const toml::node& n, const KeyCtx& k) {
      s.*m = static_cast<I>(read_int(n, k, lo, INT64_MAX));
    });
  }
  SectionBuilder& number(const char* key, double S::*m, Range r) {
    return add(key,
               [=](S& s, const toml::node& n, const KeyCtx& k) { s.*m = read_float(n, k, r); });
  }
  SectionBuilder& optional_number(const char* key, std::optional<double> S::*m, Range r) {
    return add(key,
               [=](S& s, const toml::node& n, const KeyCtx& k) { s.*m = read_float(n, k, r); });
  }
  SectionBuilder& boolean(const char* key, bool S::*m) {
    return add(key, [=](S& s, const toml::node& n, const KeyCtx& k) { s.*m = read_bool(n, k); });
  }
  SectionBuilder& string(const char* key, std::string S::*m) {
    return add(key, [=](S& s, const toml::node& n, const KeyCtx& k) { s.*m = read_string(n, k); });
  }
  SectionBuilder& choice(const char* key, std::string S::*m, std::vector<std::string> set) {
    return add(key,
               [=](S& s, const toml::node& n, const KeyCtx& k) { s.*m = read_enum(n, k, set); });
  }
  SectionBuilder& strings(const char* key, std::vector<std::string> S::*m) {
    return add(key,
               [=](S& s, const toml::node& n, const KeyCtx& k) { s.*m = read_string_list(n, k); });
  }
  SectionBuilder& numbers(const char* key, std::vector<double> S::*m, Range r) {
    return add(
        key, [=](S& s, const toml::node& n, const KeyCtx& k) { s.*m = read_float_list(n, k, r); });
  }
  // A registry spec name of one interface kind: "<kind>.<name>".
  SectionBuilder& spec_name(const char* key, std::string S::*m, std::string kind) {
    return add(key, [=](S& s, const toml::node& n, const KeyCtx& k) {
      std::string v = read_string(n, k);
      std::string prefix = kind + ".";
      bool ok = v.size() > prefix.size() && v.compare(0, prefix.size(), prefix) == 0;
      for (char ch : v)
        ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.');
      if (!ok)
        k.fail("expected a spec name \"" + prefix + "<name>\" (lower_snake), found " + describe(n));
      s.*m = v;
    });
  }
  template <class F>
  SectionBuilder& add(const char* key, F f) {
    auto sec = sec_;
    out_.fields.push_back(
        {key, [sec, f](Config& c, const toml::node& n, const KeyCtx& k) { f(c.*sec, n, k); }});
    return *this;
  }
  Section done() { return std::move(out_); }

 private:
  S Config::*sec_;
  Section out_;
};

// window_attn_skip_freq: every n-th layer global, or one 0/1 per layer (1 = windowed).
void read_window_schedule(AttentionConfig& a, const toml::node& n, const KeyCtx& k) {
  if (n.is_array()) {
    const toml::array& arr = *n.as_array();
    std::vector<int> pattern;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      KeyCtx e{k.path + "[" + std::to_string(i) + "]",
               arr[i].source().path ? where(arr[i].source(), "") : k.origin};
      pattern.push_back(static_cast<int>(read_int(arr[i], e, 0, 1)));
    }
    if (pattern.empty()) k.fail("expected a non-empty list of 0/1 (1 = windowed), found []");
    a.window_attn_pattern = std::move(pattern);
    a.window_attn_skip_freq = 0;
    return;
  }
  if (!n.is_integer())
    k.fail("expected an integer >= 1 or a per-layer list of 0/1 (1 = windowed), found " +
           describe(n));
  a.window_attn_skip_freq = static_cast<int>(read_int(n, k, 1));
  a.window_attn_pattern.clear();
}

// Optimizer names select optimizer.<name>; any lower_snake name a plugin may register.
void read_optimizer_name(OptimizerConfig& o, const toml::node& n, const KeyCtx& k) {
  std::string v = read_string(n, k);
  bool ok = !v.empty();
  for (char ch : v) ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_');
  if (!ok)
    k.fail("expected a lower_snake optimizer name (\"normuon\", \"adamw\", ...), found " +
           describe(n));
  o.name = v;
}

// kd_center: "running" (the running mean of the teacher log-probabilities) or a fixed number.
void read_kd_center(LossConfig& l, const toml::node& n, const KeyCtx& k) {
  if (n.is_string()) {
    if (n.value<std::string>().value_or("") != "running")
      k.fail("expected \"running\" or a number (a fixed log-probability), found " + describe(n));
    l.kd_center.reset();
    return;
  }
  if (!n.is_number())
    k.fail("expected \"running\" or a number (a fixed log-probability), found " + describe(n));
  l.kd_center = read_float(n, k, Range::any());
}

std::vector<Section> build() {
  using R = Range;
  std::vector<Section> s;
  Section meta;
  meta.name = "meta";
  meta.free_form = true;
  s.push_back(std::move(meta));

  s.push_back(SectionBuilder<TokenizerConfig>("tokenizer", &Config::tokenizer)
                  .integer64("vocab_size", &TokenizerConfig::vocab_size, 1)
                  .string("path", &TokenizerConfig::path)
                  .done());

  using M = ModelConfig;
  s.push_back(
      SectionBuilder<M>("model", &Config::model)
          .integer("num_layers", &M::num_layers, 1)
          .integer("hidden_size", &M::hidden_size, 1)
          .integer("num_attention_heads", &M::num_attention_heads, 1)
          .integer("num_query_groups", &M::num_query_groups, 1)
          .integer("head_dim", &M::head_dim, 1)
          .integer("ffn_hidden_size", &M::ffn_hidden_size, 1)
          .boolean("value_residual", &M::value_residual)
          .number("value_residual_init", &M::value_residual_init, R::closed(0, 1))
          .choice("normalization", &M::normalization, {"RMSNorm"})
          .boolean("qk_layernorm", &M::qk_layernorm)
          .choice("softmax_type", &M::softmax_type, {"learnable", "vanilla", "off-by-one"})
          .boolean("add_bias_linear", &M::add_bias_linear)
          .boolean("add_qkv_bias", &M::add_qkv_bias)
          .boolean("gated_linear_unit", &M::gated_linear_unit)
          .choice("activation", &M::activation, {"squaredrelu", "swiglu", "relu", "gelu", "silu"})
          .boolean("untied_embeddings", &M::untied_embeddings)
          .done());

  using A = AttentionConfig;
  s.push_back(SectionBuilder<A>("attention", &Config::attention)
                  .number("attention_dropout", &A::attention_dropout, R::half_open(0, 1))
                  .integer("max_sequence_length", &A::max_sequence_length, 1)
                  .choice("position_embedding_type", &A::position_embedding_type,
                          {"grapem", "rope", "none"})
                  .integer("window_size", &A::window_size, 1)
                  .add("window_attn_skip_freq", read_window_schedule)
                  .done());

  s.push_back(SectionBuilder<TpaConfig>("tpa", &Config::tpa)
                  .boolean("use_tpa", &TpaConfig::use_tpa)
                  .integer("tpa_rank", &TpaConfig::tpa_rank, 1)
                  .integer("tpa_q_rank", &TpaConfig::tpa_q_rank, 1)
                  .done());

  using G = GrapeConfig;
  s.push_back(SectionBuilder<G>("grape", &Config::grape)
                  .boolean("grape_a", &G::grape_a)
                  .boolean("grapem_learnable_freq", &G::grapem_learnable_freq)
                  .boolean("grapem_share_across_heads", &G::grapem_share_across_heads)
                  .number("grapem_log_freq_scale", &G::grapem_log_freq_scale, R::above(0))
                  .done());

  using E = MoeConfig;
  s.push_back(
      SectionBuilder<E>("moe", &Config::moe)
          .integer("num_experts", &E::num_experts, 1)
          .integer("topk", &E::topk, 1)
          .boolean("shared_expert", &E::shared_expert)
          .integer("shared_expert_size", &E::shared_expert_size, 1)
          .boolean("first_layer_dense", &E::first_layer_dense)
          .choice("router_load_balancing_type", &E::router_load_balancing_type,
                  {"seq_aux_loss", "aux_loss", "none"})
          .number("aux_loss_coeff", &E::aux_loss_coeff, R::at_least(0))
          .choice("router_score_function", &E::router_score_function, {"sigmoid", "softmax"})
          .number("router_topk_scaling_factor", &E::router_topk_scaling_factor, R::above(0))
          .integer("router_num_groups", &E::router_num_groups, 1)
          .integer("router_group_topk", &E::router_group_topk, 1)
          .boolean("router_enable_expert_bias", &E::router_enable_expert_bias)
          .number("router_bias_update_rate", &E::router_bias_update_rate, R::at_least(0))
          .choice("router_dtype", &E::router_dtype, {"fp32", "fp64"})
          .boolean("router_pre_softmax", &E::router_pre_softmax)
          .boolean("grouped_gemm", &E::grouped_gemm)
          .boolean("permute_fusion", &E::permute_fusion)
          .boolean("router_fusion", &E::router_fusion)
          .done());

  using O = OptimizerConfig;
  s.push_back(
      SectionBuilder<O>("optimizer", &Config::optimizer)
          .add("name", read_optimizer_name)
          .number("normuon_momentum", &O::normuon_momentum, R::half_open(0, 1))
          .number("normuon_beta2", &O::normuon_beta2, R::half_open(0, 1))
          .number("normuon_eps", &O::normuon_eps, R::above(0))
          .number("polar_express_safety_factor", &O::polar_express_safety_factor, R::at_least(0))
          .optional_number("normuon_aux_lr", &O::normuon_aux_lr, R::at_least(0))
          .optional_number("normuon_aux_min_lr", &O::normuon_aux_min_lr, R::at_least(0))
          .string("polar_express_coeffs_path", &O::polar_express_coeffs_path)
          .number("adam_beta1", &O::adam_beta1, R::half_open(0, 1))
          .number("adam_beta2", &O::adam_beta2, R::half_open(0, 1))
          .number("adam_eps", &O::adam_eps, R::above(0))
          .done());

  s.push_back(SectionBuilder<RunConfig>("run", &Config::run)
                  .string("name", &RunConfig::name)
                  .string("dir", &RunConfig::dir)
                  .string("model_config", &RunConfig::model_config)
                  .choice("device", &RunConfig::device, {"auto", "cpu", "cuda"})
                  .integer64("seed", &RunConfig::seed, 0)
                  .done());

  using P = PluginsConfig;
  s.push_back(SectionBuilder<P>("plugins", &Config::plugins)
                  .strings("paths", &P::paths)
                  .spec_name("attention_local", &P::attention_local, "attention")
                  .spec_name("attention_global", &P::attention_global, "attention")
                  .spec_name("positional_local", &P::positional_local, "positional")
                  .spec_name("positional_global", &P::positional_global, "positional")
                  .spec_name("ffn_dense", &P::ffn_dense, "ffn")
                  .spec_name("moe_router", &P::moe_router, "moe.router")
                  .spec_name("moe_experts", &P::moe_experts, "moe.experts")
                  .spec_name("optimizer_aux", &P::optimizer_aux, "optimizer")
                  .spec_name("tokenizer", &P::tokenizer, "tokenizer")
                  .spec_name("loss", &P::loss, "loss")
                  .done());

  using L = LossConfig;
  s.push_back(SectionBuilder<L>("loss", &Config::loss)
                  .number("reasoning_weight", &L::reasoning_weight, R::at_least(0))
                  .number("final_weight", &L::final_weight, R::at_least(0))
                  .number("kd_temperature", &L::kd_temperature, R::above(0))
                  .number("kd_weight_min", &L::kd_weight_min, R::at_least(0))
                  .number("kd_weight_max", &L::kd_weight_max, R::above(0))
                  .add("kd_center", read_kd_center)
                  .done());

  using D = DataConfig;
  s.push_back(SectionBuilder<D>("data", &Config::data)
                  .choice("source", &D::source, {"mock", "indexed"})
                  .strings("paths", &D::paths)
                  .numbers("weights", &D::weights, R::above(0))
                  .strings("valid_paths", &D::valid_paths)
                  .integer("eval_interval", &D::eval_interval, 0)
                  .integer("eval_iters", &D::eval_iters, 1)
                  .done());

  using T = TrainConfig;
  s.push_back(SectionBuilder<T>("train", &Config::train)
                  .integer("micro_batch_size", &T::micro_batch_size, 1)
                  .integer("global_batch_size", &T::global_batch_size, 1)
                  .integer("train_iters", &T::train_iters, 1)
                  .number("lr", &T::lr, R::at_least(0))
                  .number("min_lr", &T::min_lr, R::at_least(0))
                  .choice("lr_decay_style", &T::lr_decay_style,
                          {"constant", "linear", "cosine", "inverse-square-root", "WSD"})
                  .integer("lr_warmup_iters", &T::lr_warmup_iters, 0)
                  .integer("lr_decay_iters", &T::lr_decay_iters, 0)
                  .integer("lr_wsd_decay_iters", &T::lr_wsd_decay_iters, 0)
                  .choice("lr_wsd_decay_style", &T::lr_wsd_decay_style,
                          {"linear", "cosine", "exponential", "minus_sqrt"})
                  .optional_number("decoupled_lr", &T::decoupled_lr, R::at_least(0))
                  .optional_number("decoupled_min_lr", &T::decoupled_min_lr, R::at_least(0))
                  .number("weight_decay", &T::weight_decay, R::at_least(0))
                  .number("clip_grad", &T::clip_grad, R::at_least(0))
                  .choice("precision", &T::precision, {"bf16", "fp32"})
                  .number("init_method_std", &T::init_method_std, R::above(0))
                  .number("norm_epsilon", &T::norm_epsilon, R::above(0))
                  .integer("max_consecutive_skipped", &T::max_consecutive_skipped, 0)
                  .boolean("check_for_spiky_loss", &T::check_for_spiky_loss)
                  .choice("recompute", &T::recompute, {"none", "moe", "attention", "full"})
                  .done());

  using Pa = ParallelConfig;
  s.push_back(SectionBuilder<Pa>("parallel", &Config::parallel)
                  .integer("tensor_model_parallel_size", &Pa::tensor_model_parallel_size, 1)
                  .integer("expert_model_parallel_size", &Pa::expert_model_parallel_size, 1)
                  .choice("backend", &Pa::backend, {"auto", "nccl", "mpi", "none"})
                  .boolean("distributed_optimizer", &Pa::distributed_optimizer)
                  .boolean("overlap_grad_reduce", &Pa::overlap_grad_reduce)
                  .integer("ddp_bucket_size", &Pa::ddp_bucket_size, 1)
                  .number("timeout_s", &Pa::timeout_s, Range::above(0))
                  .done());

  s.push_back(SectionBuilder<CheckpointConfig>("checkpoint", &Config::checkpoint)
                  .string("dir", &CheckpointConfig::dir)
                  .boolean("save", &CheckpointConfig::save)
                  .integer("save_interval", &CheckpointConfig::save_interval, 0)
                  .string("load", &CheckpointConfig::load)
                  .done());

  s.push_back(SectionBuilder<LogConfig>("log", &Config::log)
                  .integer("interval", &LogConfig::interval, 1)
                  .choice("level", &LogConfig::level, {"trace", "debug", "info", "warn", "error"})
                  .boolean("progress", &LogConfig::progress)
                  .boolean("json", &LogConfig::json)
                  .boolean("tensorboard", &LogConfig::tensorboard)
                  .number("peak_tflops", &LogConfig::peak_tflops, Range::at_least(0))
                  .done());
  return s;
}

}  // namespace

const std::vector<Section>& schema() {
  static const std::vector<Section> s = build();
  return s;
}

}  // namespace vpmoe::config_detail
