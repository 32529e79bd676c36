#include "train/trainer.h"

#include <cmath>

#include "train/grad_clip.h"
#include "vpmoe/config.h"
#include "vpmoe/error.h"

namespace vpmoe::host::train {

Trainer::Trainer(const Config& c, model::GptModel& m, OptimizerSet& opt, Comm& dp)
    : c_(c), model_(m), opt_(opt), dp_(dp), params_(m.parameters()) {
  for (auto& layer : m.layers())
    if (auto* moe = dynamic_cast<moe::MoeLayer*>(&layer->ffn())) moe_.push_back(moe);
}

StepMetrics Trainer::accumulate(BatchSource& data, int k) {
  if (k <= 0) throw Error("trainer: micro-batches must be > 0");
  for (Parameter* p : params_) p->grad.zero_();
  StepMetrics m;
  m.iteration = iteration_;
  const float scale = 1.f / float(k);
  for (int i = 0; i < k; ++i) {
    const Batch b = data.next();
    Context ctx{b.ids.device(), b.batch, b.seq_len, true, double(scale)};
    const ops::CrossEntropyStats st = model_.run(ctx, b.ids, b.targets, b.mask, scale, true);
    m.loss += st.mean() / k;
    m.aux_loss += model_.aux_loss() / k;
    m.tokens += b.batch * b.seq_len;
  }
  return m;
}

StepMetrics Trainer::step(BatchSource& data, int k) {
  StepMetrics m = accumulate(data, k);
  const ClipResult clip = clip_grad_norm(params_, c_.train.clip_grad);
  m.grad_norm = clip.norm;
  ++iteration_;
  if (!clip.finite || !std::isfinite(m.loss)) {
    m.skipped = true;
    ++skipped_total_;
    for (moe::MoeLayer* moe : moe_) moe->discard_step();
    if (++skipped_in_a_row_ > c_.train.max_consecutive_skipped)
      throw Error("training stopped at iteration " + std::to_string(m.iteration) + ": " +
                  std::to_string(skipped_in_a_row_) +
                  " steps in a row had a non-finite loss or grad norm ([train] "
                  "max_consecutive_skipped = " +
                  std::to_string(c_.train.max_consecutive_skipped) + ")");
    return m;
  }
  skipped_in_a_row_ = 0;
  for (moe::MoeLayer* moe : moe_) {
    moe->finish_step(dp_);
    if (moe->last_step_stats().cv >= m.load.cv) m.load = moe->last_step_stats();
  }
  const auto lrs = opt_.step(updates_++);
  if (!lrs.empty())
    m.lr = lrs.count(OptimizerGroup::matrix) ? lrs.at(OptimizerGroup::matrix) : lrs.begin()->second;
  return m;
}

}  // namespace vpmoe::host::train
