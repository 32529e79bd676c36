#pragma once
// run.toml as typed, validated structs: the vpMoE sections ([tokenizer] [model] [attention]
// [tpa] [grape] [moe] [optimizer], same keys and meanings as the public vpMoE configs) plus the
// host's run sections ([run] [plugins] [loss] [data] [train] [parallel] [checkpoint] [log]).
// Every key has a default; docs/config.md lists them. Errors are ConfigError, whose message
// names file:line:column and the key path.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vpmoe/error.h"

namespace vpmoe {

class ConfigError : public Error {
 public:
  using Error::Error;
};

struct TokenizerConfig {
  std::int64_t vocab_size = 201088;
  std::string path = "data/tokenizer/o200k_base.tiktoken";  // vpmoe addition
};

struct ModelConfig {
  int num_layers = 80;
  int hidden_size = 1024;
  int num_attention_heads = 8;
  int num_query_groups = 2;
  int head_dim = 128;
  int ffn_hidden_size = 128;
  bool value_residual = true;
  double value_residual_init = 1.0;
  std::string normalization = "RMSNorm";
  bool qk_layernorm = true;
  std::string softmax_type = "learnable";  // learnable | vanilla | off-by-one
  bool add_bias_linear = true;
  bool add_qkv_bias = true;
  bool gated_linear_unit = false;
  std::string activation = "squaredrelu";
  bool untied_embeddings = true;
};

struct AttentionConfig {
  double attention_dropout = 0.0;
  int max_sequence_length = 2048;
  std::string position_embedding_type = "grapem";  // grapem | rope | none
  int window_size = 128;
  // Either every n-th layer global (n), or a per-layer list where 1 = windowed.
  int window_attn_skip_freq = 4;         // 0 when the key is a list
  std::vector<int> window_attn_pattern;  // set when the key is a list (num_layers entries)
};

struct TpaConfig {
  bool use_tpa = true;
  int tpa_rank = 2;
  int tpa_q_rank = 4;
};

struct GrapeConfig {
  bool grape_a = true;
  bool grapem_learnable_freq = true;
  bool grapem_share_across_heads = true;
  double grapem_log_freq_scale = 16.0;
};

struct MoeConfig {
  int num_experts = 256;
  int topk = 4;
  bool shared_expert = true;
  int shared_expert_size = 512;
  bool first_layer_dense = true;
  std::string router_load_balancing_type = "seq_aux_loss";  // seq_aux_loss | aux_loss | none
  double aux_loss_coeff = 1e-4;
  std::string router_score_function = "sigmoid";  // sigmoid | softmax
  double router_topk_scaling_factor = 2.5;
  int router_num_groups = 8;
  int router_group_topk = 4;
  bool router_enable_expert_bias = true;
  double router_bias_update_rate = 1e-3;
  std::string router_dtype = "fp32";
  bool router_pre_softmax = false;
  bool grouped_gemm = false;  // Megatron switches: accepted, ignored
  bool permute_fusion = false;
  bool router_fusion = false;
};

struct OptimizerConfig {
  std::string name = "normuon";  // normuon | adamw (selects optimizer.<name>)
  double normuon_momentum = 0.95;
  double normuon_beta2 = 0.95;
  double normuon_eps = 1e-10;
  double polar_express_safety_factor = 2e-2;
  std::optional<double> normuon_aux_lr;
  std::optional<double> normuon_aux_min_lr;
  std::string polar_express_coeffs_path;  // "" = the built-in table
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_eps = 1e-8;
};

struct RunConfig {
  std::string name = "run";
  std::string dir = "runs/run";  // output directory (metrics, checkpoints)
  std::string model_config;      // optional vpMoE TOML whose sections this file extends;
                                 // resolved against the run.toml's folder
  std::string device = "auto";   // auto | cpu | cuda
  std::uint64_t seed = 1234;
};

struct PluginsConfig {
  std::vector<std::string> paths;  // searched after --plugin-path, before VPMOE_PLUGIN_PATH
  std::string attention_local = "attention.tpa";
  std::string attention_global = "attention.gqa";
  std::string positional_local = "positional.grape_m";
  std::string positional_global = "positional.grape_a";
  std::string ffn_dense = "ffn.dense";
  std::string moe_router = "moe.router.deepseek_v3";
  std::string moe_experts = "moe.experts.grouped_mlp";
  std::string optimizer_aux = "optimizer.adamw";  // parameters NorMuon does not take
  std::string tokenizer = "tokenizer.o200k_harmony";
  std::string loss = "loss.ce";  // the training objective (vpmoe/loss.h)
};

// The objective's terms (docs/config.md [loss]), read by the loss plugins: the span weights
// (loss.span_ce, loss.kd_weighted_ce) and the teacher-confidence weights (loss.kd_weighted_ce).
struct LossConfig {
  double reasoning_weight = 1.0;  // w_r: the reasoning (analysis) span's mean CE
  double final_weight = 1.0;      // w_f: the final-answer span's mean CE
  double kd_temperature = 1.0;    // T
  double kd_weight_min = 0.5;     // per-token weight clipped to [min, max]
  double kd_weight_max = 2.0;
  std::optional<double> kd_center;  // m: a fixed number, or empty for "running"
};

struct DataConfig {
  std::string source = "mock";     // mock | indexed
  std::vector<std::string> paths;  // dataset prefixes (PREFIX.bin / PREFIX.idx)
  std::vector<double> weights;     // blend weights, one per path (default equal)
  std::vector<std::string> valid_paths;
  int eval_interval = 0;  // steps between validation evaluations (0 = never)
  int eval_iters = 1;
};

struct TrainConfig {
  int micro_batch_size = 1;
  int global_batch_size = 1;
  int train_iters = 1;
  double lr = 1e-4;
  double min_lr = 1e-4;
  // constant | linear | cosine | inverse-square-root | WSD
  std::string lr_decay_style = "constant";
  int lr_warmup_iters = 0;
  int lr_decay_iters = 0;  // 0 = train_iters
  int lr_wsd_decay_iters = 0;
  std::string lr_wsd_decay_style = "linear";  // linear | cosine | exponential | minus_sqrt
  std::optional<double> decoupled_lr;
  std::optional<double> decoupled_min_lr;
  double weight_decay = 0.01;
  double clip_grad = 1.0;
  std::string precision = "bf16";  // bf16 | fp32 (CPU runs are always fp32)
  double init_method_std = 0.02;
  double norm_epsilon = 1e-5;
  int max_consecutive_skipped = 10;
  // Megatron's 10x rule: a loss of 10x the reference (the largest of the first 100 steps) or
  // more is re-run like a non-finite one.
  bool check_for_spiky_loss = false;
  // Activation recomputation: none | moe | attention | full (docs/training.md). What it names
  // keeps only its input during the forward and runs again just before its backward.
  std::string recompute = "none";
};

struct ParallelConfig {
  int tensor_model_parallel_size = 1;
  int expert_model_parallel_size = 1;
  std::string backend = "auto";  // auto | nccl | mpi | none
  // ZeRO-1: AdamW state sharded by elements over dp, NorMuon by whole matrices.
  bool distributed_optimizer = false;
  // Start each gradient bucket's all-reduce from the backward as soon as its grads are ready.
  bool overlap_grad_reduce = true;
  int ddp_bucket_size = 40000000;  // elements per gradient bucket (Megatron's default)
  double timeout_s = 600;          // a collective waits this long for its peers, then fails
};

struct CheckpointConfig {
  std::string dir;        // "" = <run.dir>/checkpoints
  bool save = true;       // false: write no checkpoint (benchmarks)
  int save_interval = 0;  // 0 = only at the end
  std::string load;       // directory to resume from ("" = none)
};

struct LogConfig {
  int interval = 1;
  std::string level = "info";  // trace | debug | info | warn | error
  bool progress = true;
  bool json = true;          // metrics.jsonl in run.dir
  bool tensorboard = false;  // TensorBoard event files in run.dir/tensorboard
  // Dense bf16 peak per device for MFU; 0 = known by the device's name (H100/H200 989.4), none
  // on the CPU.
  double peak_tflops = 0;
};

struct Config {
  std::string path;  // the file this came from
  TokenizerConfig tokenizer;
  ModelConfig model;
  AttentionConfig attention;
  TpaConfig tpa;
  GrapeConfig grape;
  MoeConfig moe;
  OptimizerConfig optimizer;
  RunConfig run;
  PluginsConfig plugins;
  LossConfig loss;
  DataConfig data;
  TrainConfig train;
  ParallelConfig parallel;
  CheckpointConfig checkpoint;
  LogConfig log;

  // Where each key and section given in the files came from: "model.num_layers" (or "model")
  // -> "path:line:column". Keys left at their default have no entry.
  std::map<std::string, std::string, std::less<>> origins;

  // 1-based layer l is global (full causal attention) under the window schedule.
  bool layer_is_global(int l) const;
  // 1-based layer l has a MoE FFN (every layer but layer 1 when first_layer_dense).
  bool layer_is_moe(int l) const;

  // "path:line:column" of key ("section.key"), else of its section, else "path:1:1".
  std::string origin(std::string_view key) const;
  // Throws ConfigError "origin: [section].key: what" — for plugins validating their own keys.
  // what says what was expected and what was found.
  [[noreturn]] void fail(std::string_view key, std::string_view what) const;
};

// Parses and validates a run.toml (and the model_config it refers to). Throws ConfigError.
Config load_config(const std::string& path);
Config parse_config(const std::string& toml_text, const std::string& source_name);

}  // namespace vpmoe
