#pragma once
#include <memory>

#include "vpmoe/module.h"
#include "vpmoe/positional.h"

namespace vpmoe {

// Shared across the layers of one model: the value-residual source (layer 1's values) and the
// gradient that later layers send back to it.
struct ValueResidualState {
  Tensor v1;  // [batch, seq, groups, head_dim]: layer 1's values of this call's tokens
  // Same shape, accumulated by layers > 1 during backward. Layer 1's forward zeroes it, but
  // not when recomputing (Context::recomputing): then it holds what the later layers sent.
  Tensor dv1;
  // Decode only: layer 1's values of the tokens cached before this call, [batch, max_len,
  // groups, head_dim] at their absolute positions (rows 0 .. ctx.position - 1 valid). Kept by
  // the model, which appends v1 after every call, when a layer's cache asks for it
  // (AttentionCache::v1_history); undefined otherwise.
  Tensor v1_past;
};

// One layer's decode state (its KV cache), made by its Attention::make_cache and owned by the
// caller; only the layer that made it reads its contents.
struct AttentionCache {
  virtual ~AttentionCache();
  virtual std::int64_t bytes() const = 0;  // memory the cache holds
  // How many tokens before the current call this layer needs layer 1's values of
  // (ValueResidualState::v1_past): 0 when it caches its own mixed values.
  virtual std::int64_t v1_history() const { return 0; }
};

// hidden [batch*seq, H] -> [batch*seq, H]. Owns its projections; receives its positional
// encoding and its role (LayerInfo: local window or global) at construction.
class Attention : public Module {
 public:
  static constexpr const char* kind = "attention";
  virtual Tensor forward(const Context& ctx, const Tensor& x, ValueResidualState* vr) = 0;
  // Returns dx; accumulates parameter grads (and vr->dv1 for layers > 1).
  virtual Tensor backward(const Context& ctx, const Tensor& dy, ValueResidualState* vr) = 0;

  // Incremental decode (evaluation only: nothing is kept for a backward). make_cache sizes a
  // cache for `batch` sequences of up to max_len tokens. forward_cached takes x [batch*seq, H]
  // of ctx.seq_len new tokens per sequence at absolute positions ctx.position .. (the same for
  // every sequence; a prefill is many tokens at position 0, then one token per step), attends
  // to them and to the cached ones, appends them to the cache and returns [batch*seq, H]: the
  // training forward's rows for those tokens. Layer 1 sets vr->v1 to its new values as in
  // forward. The defaults throw, naming the plugin: it has no decode path.
  virtual std::unique_ptr<AttentionCache> make_cache(std::int64_t batch,
                                                     std::int64_t max_len) const;
  virtual Tensor forward_cached(const Context& ctx, const Tensor& x, AttentionCache& cache,
                                ValueResidualState* vr);
};

}  // namespace vpmoe
