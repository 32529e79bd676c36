#include "tpa_attention.h"

#include "vpmoe/config.h"

namespace vpmoe::attention {

TpaAttention::TpaAttention(AttentionOptions o, TpaRanks ranks, Device device,
                           std::shared_ptr<Positional> positional)
    : AttentionLayer(std::move(o), device, std::move(positional)), r_(ranks) {
  const std::int64_t H = o_.hidden, d = o_.head_dim;
  auto make = [&](Factor& f, const char* name, int heads, int rank) {
    f.heads = heads, f.rank = rank;
    f.a = make_weight(o_.prefix + ".tpa.a_" + name, {std::int64_t(heads) * rank, H}, o_.init_std);
    f.b = make_weight(o_.prefix + ".tpa.b_" + name, {std::int64_t(rank) * d, H}, o_.init_std);
  };
  make(q_, "q", o_.heads, r_.q);
  make(k_, "k", o_.groups, r_.kv);
  make(v_, "v", o_.groups, r_.kv);
}

std::vector<Parameter*> TpaAttention::projection_parameters() {
  return {&q_.a, &k_.a, &v_.a, &q_.b, &k_.b, &v_.b};
}

double TpaAttention::projection_flops() const {
  const double H = o_.hidden, d = o_.head_dim, nh = o_.heads, ng = o_.groups;
  const double Rq = r_.q, R = r_.kv;
  return 2.0 * H * (nh * Rq + 2 * ng * R + Rq * d + 2 * R * d) +
         2.0 * (nh * Rq * d + 2 * ng * R * d);
}

void TpaAttention::assemble(const Tensor& x, Factor& f, Tensor& out) {
  const std::int64_t N = x.size(0), d = o_.head_dim;
  f.fa = act({N, f.heads, f.rank});
  f.fb = act({N, f.rank, d});
  Tensor fa2 = f.fa.view({N, -1}), fb2 = f.fb.view({N, -1});
  linear(x, f.a, fa2);
  linear(x, f.b, fb2);
  // Per token [heads, rank] @ [rank, d], scaled by 1/rank.
  ops::gemm(f.fa, f.fb, out, false, false, 1.f / float(f.rank));
}

void TpaAttention::assemble_backward(const Tensor& x, Factor& f, const Tensor& g, Tensor& dx,
                                     bool accumulate) {
  const std::int64_t N = x.size(0);
  const float s = 1.f / float(f.rank);
  Tensor da = act(f.fa.shape()), db = act(f.fb.shape());
  ops::gemm(g, f.fb, da, false, true, s);  // g [heads, d] b^T
  ops::gemm(f.fa, g, db, true, false, s);  // a^T g
  linear_backward(x, da.view({N, -1}), f.a, dx, accumulate);
  linear_backward(x, db.view({N, -1}), f.b, dx, true);
  f.fa = f.fb = Tensor();
}

void TpaAttention::project(const Tensor& x, Tensor& q, Tensor& k, Tensor& v) {
  assemble(x, q_, q);
  assemble(x, k_, k);
  assemble(x, v_, v);
}

Tensor TpaAttention::project_backward(const Tensor& x, const Tensor& dq, const Tensor& dk,
                                      const Tensor& dv) {
  Tensor dx = act({x.size(0), o_.hidden});
  assemble_backward(x, q_, dq, dx, false);
  assemble_backward(x, k_, dk, dx, true);
  assemble_backward(x, v_, dv, dx, true);
  return dx;
}

void TpaAttention::drop_projection() {
  q_.fa = q_.fb = k_.fa = k_.fb = v_.fa = v_.fb = Tensor();
}

std::unique_ptr<Attention> build_tpa(const BuildArgs& args) {
  AttentionOptions o = attention_options(args, "attention.tpa");
  const Config& c = *args.config;
  if (!c.tpa.use_tpa)
    c.fail("tpa.use_tpa", "attention.tpa was asked for but [tpa] use_tpa is false");
  TpaRanks r{c.tpa.tpa_q_rank, c.tpa.tpa_rank};
  if (r.q <= 0) c.fail("tpa.tpa_q_rank", "expected a rank > 0, found " + std::to_string(r.q));
  if (r.kv <= 0) c.fail("tpa.tpa_rank", "expected a rank > 0, found " + std::to_string(r.kv));
  return std::make_unique<TpaAttention>(o, r, args.device, args.positional);
}

}  // namespace vpmoe::attention
