#include "train/grad_clip.h"

#include <cmath>

#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::host::train {

ClipResult clip_grad_norm(const std::vector<Parameter*>& params, double max_norm,
                          bool scale_grads) {
  ClipResult r;
  if (params.empty()) return r;
  std::vector<Tensor> grads;
  for (const Parameter* p : params) {
    if (!p->grad.defined()) throw Error("clip_grad_norm: " + p->name + " has no grad");
    grads.push_back(p->grad);
  }
  Tensor out = Tensor::empty({1}, DType::f32, grads.front().device());
  ops::global_l2_norm(grads, out);
  r.norm = out.item();
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

}  // namespace vpmoe::host::train
