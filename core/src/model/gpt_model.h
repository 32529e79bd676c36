#pragma once
// The language model of spec/training.md: token embedding, the layer stack, a final RMSNorm and
// an untied LM head whose logits go straight into the loss (ops::linear_cross_entropy: at most
// a chunk of [rows, V] logits exists). One call runs a micro-batch forward, its loss-masked
// mean cross-entropy and, when asked, the whole backward.
#include <functional>
#include <memory>
#include <vector>

#include "model/decode_state.h"
#include "model/transformer_layer.h"
#include "vpmoe/ops.h"

namespace vpmoe {
class RunAhead;
}

namespace vpmoe::model {

struct GptOptions {
  std::int64_t vocab = 0;  // padded vocabulary (rows of the embedding and the head)
  std::int64_t hidden = 0;
  double eps = 1e-5;
  double init_std = 0.02;
  std::uint64_t seed = 1234;
  Device device;
  bool bf16 = false;                      // bf16 compute weights and activations (CUDA)
  Recompute recompute = Recompute::none;  // activation recomputation, every layer alike
};

class GptModel {
 public:
  GptModel(GptOptions o, std::vector<std::unique_ptr<TransformerLayer>> layers);
  std::vector<Parameter*> parameters();
  // The parameters in the order the backward finishes their grads, stage by stage: the head
  // (output layer, final norm), each layer from the last to the first, the embedding. A
  // parameter's grad is final once the backward has passed the last stage that lists it.
  std::vector<std::vector<Parameter*>> backward_stages();
  // Called with a stage's index (of backward_stages) as soon as the backward has passed it, so
  // the data-parallel reduction of those grads can start while the rest of the backward runs.
  // Empty: no calls.
  using BackwardHook = std::function<void(int stage)>;
  void set_backward_hook(BackwardHook hook) { hook_ = std::move(hook); }
  // Forward FLOPs per token: the layers plus the LM head (2 V H).
  double flops_per_token(std::int64_t seq_len) const;
  // ids, targets [B T] i32; mask [B T] f32 or undefined (all ones). With backward, every grad
  // accumulates the gradient of grad_scale x the mean loss (and of ctx.aux_loss_scale x the
  // MoE aux losses).
  ops::CrossEntropyStats run(const Context& ctx, const Tensor& ids, const Tensor& targets,
                             const Tensor& mask, float grad_scale, bool backward);
  // The same with per-label weights (host, [B T]; a loss plugin's, vpmoe/loss.h) and no mean:
  // every grad accumulates the gradient of grad_scale x sum_i weight_i CE_i. row_loss, when
  // given, receives every label's CE (ops::linear_cross_entropy_weighted).
  ops::CrossEntropyStats run_weighted(const Context& ctx, const Tensor& ids, const Tensor& targets,
                                      std::span<const float> weight, float grad_scale,
                                      bool backward, std::vector<float>* row_loss = nullptr);
  // Sum of the layers' aux losses from the last forward (already weighted by their coefficient).
  double aux_loss() const;
  // Every layer's non-parameter state (Module::state) under "layers.<l>.attention." and
  // "layers.<l>.ffn.", for checkpoints.
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& state);
  std::vector<std::unique_ptr<TransformerLayer>>& layers() { return layers_; }
  // Activation recomputation of every layer (GptOptions::recompute at construction).
  void set_recompute(Recompute r);
  Recompute recompute() const { return o_.recompute; }

  // ---- Inference (gpt_inference.cpp): no loss, no backward, nothing stateful. ctx.training
  // must be false, so no MoE layer counts routing for the expert-bias update.
  // The final normed hidden states [B*T, hidden] (compute dtype) of ids [B*T] i32.
  Tensor forward_hidden(const Context& ctx, const Tensor& ids);
  // f32 logits [rows, vocab] of h [rows, hidden] over ids [0, vocab) (vocab <= this model's),
  // on h's device: the head in fp32 accumulation, not rounded to the compute dtype.
  Tensor logits(const Tensor& h, std::int64_t vocab) const;
  struct RowScores {
    std::vector<float> logprob;        // log p(target), over the whole padded vocabulary
    std::vector<std::int32_t> argmax;  // the most likely id in [0, vocab), first on ties
  };
  // Per row r of h [N, hidden]: logprob[r] = -CE(logits(h[r]), targets[r]) normalised over the
  // model's whole (padded) vocabulary as the training loss is, and argmax[r] over ids
  // [0, vocab), both from one f32 logits chunk of chunk_rows rows (no [N, V] logits).
  RowScores score_rows(const Tensor& h, const Tensor& targets, std::int64_t vocab,
                       std::int64_t chunk_rows = 1024) const;
  std::int64_t vocab() const { return o_.vocab; }
  std::int64_t hidden() const { return o_.hidden; }

  // ---- incremental decode (gpt_decode.cpp) ----
  // Caches for `batch` sequences of up to max_len tokens (prompt and completion).
  DecodeState make_decode_state(std::int64_t batch, std::int64_t max_len);
  // ids [B, n] i32: n new tokens per sequence at positions s.position .. (a prefill, then
  // one token per step). Runs embedding, the layers' forward_cached and the final norm in
  // evaluation mode, advances s.position by n and returns the final hidden state of each
  // sequence's last new token [B, hidden]: the training forward's row at that position.
  Tensor decode(const Context& ctx, const Tensor& ids, DecodeState& s);
  // Logits of hidden states h [rows, hidden] against the whole LM head: f32 [rows, V] on the
  // host (logits() over every id, copied back).
  Tensor head_logits(const Tensor& h) const;

 private:
  using Head = std::function<ops::CrossEntropyStats(const Tensor& h, Tensor* dh, Tensor* dw)>;
  // Embedding, the layers and the final norm: the layers' output x, the normed h and its
  // rstd (what the head and the final norm's backward need). Training and inference share it;
  // the caller keeps vr and the run-ahead bound, which a backward goes on using.
  struct Stack {
    Tensor x, h, rstd;
  };
  Stack forward_stack(const Context& ctx, const Tensor& ids, ValueResidualState& vr,
                      RunAhead& ahead);
  // Layers the host may queue ahead of the device (RunAhead): enough to hide its launches.
  static constexpr int kLayersAhead = 2;
  ops::CrossEntropyStats run_impl(const Context& ctx, const Tensor& ids, const Tensor& targets,
                                  bool backward, const Head& head);
  GptOptions o_;
  std::vector<std::unique_ptr<TransformerLayer>> layers_;
  Parameter embedding_, final_norm_, output_;
  BackwardHook hook_;
};

}  // namespace vpmoe::model
