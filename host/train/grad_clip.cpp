#include "train/grad_clip.h"

#include <cmath>

#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::host::train {
namespace {

std::vector<Tensor> grads_of(const std::vector<Parameter*>& params) {
  std::vector<Tensor> grads;
  for (const Parameter* p : params) {
    if (!p->grad.defined()) throw Error("clip_grad_norm: " + p->name + " has no grad");
    grads.push_back(p->grad);
  }
  return grads;
}

double l2_norm(const std::vector<Tensor>& grads) {
  if (grads.empty()) return 0;
  Tensor out = Tensor::empty({1}, DType::f32, grads.front().device());
  ops::global_l2_norm(grads, out);
  return out.item();
}

// The clip's decision from the norm.
ClipResult decide(double norm, double max_norm, bool scale_grads, std::vector<Tensor>& grads) {
  ClipResult r;
  r.norm = norm;
  r.finite = std::isfinite(r.norm);
  if (!r.finite || max_norm <= 0) return r;
  const double coeff = max_norm / (r.norm + 1e-6);
  if (coeff < 1) {
    r.scale = float(coeff);
    if (scale_grads)
      for (Tensor& g : grads) ops::scale(g, r.scale, g);
    r.clipped = true;
  }
  return r;
}

}  // namespace

ClipResult clip_grad_norm(const std::vector<Parameter*>& params, double max_norm,
                          bool scale_grads) {
  if (params.empty()) return ClipResult{};
  std::vector<Tensor> grads = grads_of(params);
  return decide(l2_norm(grads), max_norm, scale_grads, grads);
}

ClipResult clip_grad_norm(const std::vector<Parameter*>& params, double max_norm, bool scale_grads,
                          Comm& ep) {
  // One ep rank: the plain norm's summation order (a one-rank NCCL group included), so a
  // one-GPU NCCL run keeps the bits of a run without a communicator.
  if (ep.size() == 1) return clip_grad_norm(params, max_norm, scale_grads);
  std::vector<Parameter*> dense, expert;
  for (Parameter* p : params) (p->sharding == Sharding::expert ? expert : dense).push_back(p);
  const double d = l2_norm(grads_of(dense)), e = l2_norm(grads_of(expert));
  // Each rank's expert squares in its own slot: the sum of one value and zeros is exact, so
  // every rank adds the same numbers in the same order and takes the same decision.
  std::vector<double> squares(std::size_t(ep.size()), 0.0);
  squares[std::size_t(ep.rank())] = e * e;
  ep.all_reduce_sum(std::span<double>(squares));
  double total = d * d;
  for (double s : squares) total += s;
  std::vector<Tensor> grads = grads_of(params);
  return decide(std::sqrt(total), max_norm, scale_grads, grads);
}

}  // namespace vpmoe::host::train
