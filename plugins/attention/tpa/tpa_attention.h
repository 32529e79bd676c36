#pragma once
// attention.tpa (spec/attention.md §4): six bias-free maps give per-token head factors
// a [heads, rank] and shared feature factors b [rank, d]; q = (1/Rq) a_q b_q, k and v likewise
// with rank R. The assembled q, k, v then go through the shared layer like GQA's.
#include <memory>

#include "attention_layer.h"

namespace vpmoe::attention {

struct TpaRanks {
  int q = 4;   // tpa_q_rank
  int kv = 2;  // tpa_rank
};

// The decode cache of a TPA layer: the per-token k and v factors (a [ng, R], b [R, d]) of the
// last `slots` tokens (the window) in rings, position p in slot p % slots. Each step rebuilds
// the window's k and v from them (tpa_decode.cpp).
struct TpaCache final : AttentionCache {
  Tensor ka, kb, va, vb;  // [B, slots, ng, R], [B, slots, R, d] (k, then v)
  std::int64_t max_len = 0, history = 0;
  std::int64_t bytes() const override {
    return std::int64_t(ka.nbytes() + kb.nbytes() + va.nbytes() + vb.nbytes());
  }
  std::int64_t v1_history() const override { return history; }
};

class TpaAttention final : public AttentionLayer {
 public:
  TpaAttention(AttentionOptions o, TpaRanks ranks, Device device,
               std::shared_ptr<Positional> positional);
  TpaRanks ranks() const { return r_; }
  // A TpaCache of min(window, max_len) slots (max_len without a window).
  std::unique_ptr<AttentionCache> make_cache(std::int64_t batch,
                                             std::int64_t max_len) const override;

 protected:
  Tensor attend_cached(const Context& ctx, const Tensor& q, const Tensor& k, const Tensor& v,
                       AttentionCache& cache, ValueResidualState* vr) override;
  void project(const Tensor& x, Tensor& q, Tensor& k, Tensor& v) override;
  Tensor project_backward(const Tensor& x, const Tensor& dq, const Tensor& dk,
                          const Tensor& dv) override;
  std::vector<Parameter*> projection_parameters() override;
  double projection_flops() const override;
  void drop_projection() override;

 private:
  // One of q, k, v: its two maps and the factors kept from forward.
  struct Factor {
    Parameter a, b;  // [heads * rank, hidden], [rank * d, hidden]
    int heads = 0, rank = 0;
    Tensor fa, fb;  // [N, heads, rank], [N, rank, d]
  };
  void assemble(const Tensor& x, Factor& f, Tensor& out);
  void assemble_backward(const Tensor& x, Factor& f, const Tensor& g, Tensor& dx, bool accumulate);

  TpaRanks r_;
  Factor q_, k_, v_;
};

std::unique_ptr<Attention> build_tpa(const BuildArgs& args);

}  // namespace vpmoe::attention
