#pragma once
// One pre-norm transformer layer (spec/training.md): h = x + attention(rmsnorm(x)),
// out = h + ffn(rmsnorm(h)), both norms RMSNorm with learned scales. The attention and the FFN
// (dense, or the whole MoE layer) are plugins behind their interfaces; this composes them.
// With activation recomputation (model/recompute.h) a sublayer keeps only its input during the
// forward (its parts drop_saved) and runs again just before its backward.
#include <memory>

#include "model/recompute.h"
#include "vpmoe/attention.h"
#include "vpmoe/feed_forward.h"

namespace vpmoe::model {

class TransformerLayer {
 public:
  // prefix: "layers.<l>"; the norms are "<prefix>.attention_norm" / "<prefix>.ffn_norm".
  TransformerLayer(std::unique_ptr<Attention> attention, std::unique_ptr<FeedForward> ffn,
                   std::int64_t hidden, double eps, const std::string& prefix, Device device);
  std::vector<Parameter*> parameters();
  double flops_per_token(std::int64_t seq_len) const;
  // Which sublayers recompute (Recompute::none: none).
  void set_recompute(Recompute r) { recompute_ = r; }
  Recompute recompute() const { return recompute_; }
  // x [N, H] (the activations' dtype) -> out [N, H].
  Tensor forward(const Context& ctx, const Tensor& x, ValueResidualState* vr);
  // Decode: forward's math with the attention's forward_cached; nothing kept for a backward.
  Tensor forward_cached(const Context& ctx, const Tensor& x, AttentionCache& cache,
                        ValueResidualState* vr);
  // dout [N, H] -> dx [N, H]; accumulates every parameter's grad. Re-runs the forward of what
  // recomputes first, with ctx.recomputing set.
  Tensor backward(const Context& ctx, const Tensor& dout, ValueResidualState* vr);

  Attention& attention() { return *attention_; }
  FeedForward& ffn() { return *ffn_; }
  const Attention& attention() const { return *attention_; }
  const FeedForward& ffn() const { return *ffn_; }

 private:
  // h = x + attention(rmsnorm(x)) and out = h + ffn(rmsnorm(h)), keeping what their backward
  // needs (x_, rstd1_ and the attention's; h_, rstd2_ and the ffn's).
  Tensor attention_sublayer(const Context& ctx, const Tensor& x, ValueResidualState* vr);
  Tensor ffn_sublayer(const Context& ctx, const Tensor& h);
  bool recomputes_attention() const {
    return recompute_ == Recompute::attention || recompute_ == Recompute::full;
  }
  bool recomputes_ffn() const {
    return recompute_ == Recompute::moe || recompute_ == Recompute::full;
  }

  std::unique_ptr<Attention> attention_;
  std::unique_ptr<FeedForward> ffn_;
  double eps_;
  Parameter attn_norm_, ffn_norm_;
  Tensor x_, h_, rstd1_, rstd2_;  // kept for the backward
  Recompute recompute_ = Recompute::none;
  bool forwarded_ = false;  // a forward ran and its backward has not
};

}  // namespace vpmoe::model
