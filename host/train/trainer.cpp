#include "train/trainer.h"

#include <cmath>
#include <optional>
#include <set>

#include "train/grad_clip.h"
#include "vpmoe/config.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::host::train {

namespace {

// Every parameter must be in some backward stage, or its grad would not be reduced.
std::vector<std::vector<Parameter*>> checked_stages(model::GptModel& m) {
  auto stages = m.backward_stages();
  std::set<const Parameter*> listed;
  for (const auto& s : stages) listed.insert(s.begin(), s.end());
  for (const Parameter* p : m.parameters())
    if (!listed.count(p)) throw Error("trainer: " + p->name + " is in no backward stage");
  return stages;
}

// The model calls the grad sync after each backward stage while this lives.
struct HookArmed {
  model::GptModel& m;
  HookArmed(model::GptModel& model, GradSync& sync) : m(model) {
    m.set_backward_hook([&sync](int stage) { sync.stage_done(stage); });
  }
  ~HookArmed() { m.set_backward_hook(nullptr); }
};

}  // namespace

Trainer::Trainer(const Config& c, model::GptModel& m, OptimizerSet& opt, const ParallelState& ps)
    : c_(c),
      model_(m),
      opt_(opt),
      ps_(ps),
      dp_(*ps.dp),
      params_(m.parameters()),
      grad_sync_(checked_stages(m), ps,
                 GradSyncOptions{c.parallel.ddp_bucket_size, c.parallel.overlap_grad_reduce}) {
  for (auto& layer : m.layers())
    if (auto* moe = dynamic_cast<moe::MoeLayer*>(&layer->ffn())) moe_.push_back(moe);
}

StepMetrics Trainer::accumulate(BatchSource& data, int k) {
  if (k <= 0) throw Error("trainer: micro-batches must be > 0");
  grad_sync_.zero_grads();
  StepMetrics m;
  m.iteration = iteration_;
  const float scale = 1.f / float(k);
  for (int i = 0; i < k; ++i) {
    const Batch b = data.next();
    Context ctx{b.ids.device(), b.batch, b.seq_len, true, double(scale)};
    ops::CrossEntropyStats st;
    if (i + 1 == k) {
      // The grads become final during the last backward: its buckets can start from there.
      grad_sync_.begin();
      std::optional<HookArmed> armed;
      if (grad_sync_.overlap() && grad_sync_.reduces()) armed.emplace(model_, grad_sync_);
      st = model_.run(ctx, b.ids, b.targets, b.mask, scale, true);
    } else {
      st = model_.run(ctx, b.ids, b.targets, b.mask, scale, true);
    }
    m.loss += st.mean() / k;
    m.aux_loss += model_.aux_loss() / k;
    m.tokens += b.batch * b.seq_len;
  }
  grad_sync_.finish();
  if (runs_collectives(dp_)) average_metrics(m);
  return m;
}

// The loss metrics' mean over dp; tokens are summed.
void Trainer::average_metrics(StepMetrics& m) {
  double sums[2] = {m.loss, m.aux_loss};
  dp_.all_reduce_sum(std::span<double>(sums, 2));
  m.loss = sums[0] / dp_.size(), m.aux_loss = sums[1] / dp_.size();
  std::int64_t tokens = m.tokens;
  dp_.all_reduce_sum(std::span<std::int64_t>(&tokens, 1));
  m.tokens = tokens;
}

std::int64_t Trainer::all_to_all_bytes() const {
  std::int64_t b = 0;
  for (const moe::MoeLayer* moe : moe_) b += moe->dispatcher().bytes_sent();
  return b;
}

TrainerCounters Trainer::counters() const {
  return {iteration_, updates_, skipped_total_, skipped_in_a_row_};
}

void Trainer::set_counters(const TrainerCounters& c) {
  iteration_ = c.iteration, updates_ = c.updates, skipped_total_ = c.skipped_total;
  skipped_in_a_row_ = c.skipped_in_a_row;
}

double Trainer::evaluate(BatchSource& data, int k) {
  ops::CrossEntropyStats total;
  for (int i = 0; i < k; ++i) {
    const Batch b = data.next();
    Context ctx{b.ids.device(), b.batch, b.seq_len, false, 1.0};
    const ops::CrossEntropyStats st = model_.run(ctx, b.ids, b.targets, b.mask, 1.f, false);
    total.loss_sum += st.loss_sum, total.mask_sum += st.mask_sum;
  }
  double sums[2] = {total.loss_sum, total.mask_sum};
  dp_.all_reduce_sum(std::span<double>(sums, 2));
  return sums[1] > 0 ? sums[0] / sums[1] : 0.0;
}

StepMetrics Trainer::step(BatchSource& data, int k) {
  StepMetrics m = accumulate(data, k);
  // The clip's factor goes to the optimizers, which read the grads anyway.
  const ClipResult clip =
      clip_grad_norm(params_, c_.train.clip_grad, /*scale_grads=*/false, *ps_.ep);
  m.grad_norm = clip.norm;
  ++iteration_;
  if (!clip.finite || !std::isfinite(m.loss)) {
    m.skipped = true;
    ++skipped_total_;
    for (moe::MoeLayer* moe : moe_) moe->discard_step();
    if (++skipped_in_a_row_ > c_.train.max_consecutive_skipped)
      throw TrainingStopped("training stopped at iteration " + std::to_string(m.iteration) + ": " +
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
  const auto lrs = opt_.step(updates_++, clip.scale);
  if (!lrs.empty())
    m.lr = lrs.count(OptimizerGroup::matrix) ? lrs.at(OptimizerGroup::matrix) : lrs.begin()->second;
  return m;
}

}  // namespace vpmoe::host::train
