#include "train/trainer.h"

#include <cmath>
#include <cstdio>
#include <optional>
#include <set>

#include "train/grad_clip.h"
#include "vpmoe/config.h"
#include "vpmoe/error.h"
#include "vpmoe/log.h"
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

// A micro-batch's side data on the host, for the loss plugin and the span metrics.
struct SideData {
  std::int64_t tokens = 0;
  std::vector<float> mask, teacher_logp;
  std::vector<std::uint8_t> span;
  explicit SideData(const Batch& b) : tokens(b.batch * b.seq_len) {
    if (b.mask.defined()) mask = b.mask.to_floats();
    if (b.teacher_logp.defined()) teacher_logp = b.teacher_logp.to_floats();
    if (b.span.defined()) {
      const std::vector<float> s = b.span.to_floats();
      span.assign(s.begin(), s.end());
    }
  }
  LossInputs inputs() const { return LossInputs{tokens, mask, span, teacher_logp}; }
};

// The model calls the grad sync after each backward stage while this lives.
struct HookArmed {
  model::GptModel& m;
  HookArmed(model::GptModel& model, GradSync& sync) : m(model) {
    m.set_backward_hook([&sync](int stage) { sync.stage_done(stage); });
  }
  ~HookArmed() { m.set_backward_hook(nullptr); }
};

}  // namespace

Trainer::Trainer(const Config& c, model::GptModel& m, OptimizerSet& opt, const ParallelState& ps,
                 std::unique_ptr<Loss> loss)
    : c_(c),
      model_(m),
      opt_(opt),
      ps_(ps),
      dp_(*ps.dp),
      params_(m.parameters()),
      loss_(std::move(loss)),
      grad_sync_(checked_stages(m), ps,
                 GradSyncOptions{c.parallel.ddp_bucket_size, c.parallel.overlap_grad_reduce}) {
  if (!loss_) throw Error("trainer: no loss");
  for (auto& layer : m.layers())
    if (auto* moe = dynamic_cast<moe::MoeLayer*>(&layer->ffn())) moe_.push_back(moe);
}

std::unique_ptr<Loss> make_loss(const Config& c, const Registry& reg) {
  BuildArgs a;
  a.config = &c;
  try {
    return reg.create<Loss>(c.plugins.loss, a);
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    c.fail("plugins.loss", e.what());
  }
}

StepMetrics Trainer::accumulate(BatchSource& data, int k) {
  if (k <= 0) throw Error("trainer: micro-batches must be > 0");
  grad_sync_.zero_grads();
  StepMetrics m;
  m.iteration = iteration_;
  const float scale = 1.f / float(k);
  positions_.clear();
  // The step's micro-batches first: the loss's totals are those of the whole global batch
  // (every micro-batch, every dp rank), so each label's weight is final before any backward.
  std::vector<Batch> batches;
  std::vector<SideData> side;
  for (int i = 0; i < k; ++i) {
    positions_.push_back(data.position());
    batches.push_back(data.next());
    side.emplace_back(batches.back());
  }
  std::vector<double> totals(std::size_t(loss_->num_totals()), 0.0);
  for (const SideData& s : side) loss_->add_totals(s.inputs(), totals);
  if (!totals.empty() && runs_collectives(dp_)) dp_.all_reduce_sum(std::span<double>(totals));
  loss_->begin_step(totals);
  // GradSync divides the summed grads by dp: each rank's objective is dp x its share of L, and
  // so is its loss before the dp mean.
  const float dp_scale = float(dp_.size());
  const bool spans = !side.front().span.empty();
  double span_sums[4] = {0, 0, 0, 0};  // CE sum and label count: reasoning, final
  std::vector<float> w, row_loss;
  for (int i = 0; i < k; ++i) {
    const Batch& b = batches[std::size_t(i)];
    const SideData& s = side[std::size_t(i)];
    w.assign(std::size_t(s.tokens), 0.f);
    loss_->weights(s.inputs(), w);
    Context ctx{b.ids.device(), b.batch, b.seq_len, true, double(scale)};
    std::vector<float>* rows = spans ? &row_loss : nullptr;
    ops::CrossEntropyStats st;
    if (i + 1 == k) {
      // The grads become final during the last backward: its buckets can start from there.
      grad_sync_.begin();
      std::optional<HookArmed> armed;
      if (grad_sync_.overlap() && grad_sync_.reduces()) armed.emplace(model_, grad_sync_);
      st = model_.run_weighted(ctx, b.ids, b.targets, w, dp_scale, true, rows);
    } else {
      st = model_.run_weighted(ctx, b.ids, b.targets, w, dp_scale, true, rows);
    }
    m.loss += st.loss_sum * dp_scale;
    m.aux_loss += model_.aux_loss() / k;
    m.tokens += b.batch * b.seq_len;
    if (!spans) continue;
    for (std::int64_t t = 0; t < s.tokens; ++t) {
      const float mk = s.mask.empty() ? 1.f : s.mask[std::size_t(t)];
      const auto label = SpanLabel(s.span[std::size_t(t)]);
      if (!(mk > 0.f) || label == SpanLabel::prompt) continue;
      const int at = label == SpanLabel::reasoning ? 0 : label == SpanLabel::final_answer ? 2 : -1;
      if (at < 0) continue;
      span_sums[at] += double(mk) * row_loss[std::size_t(t)];
      span_sums[at + 1] += mk;
    }
  }
  grad_sync_.finish();
  if (fault_hook_) {
    FaultPoint f{iteration_, attempt_number_, positions_, m.loss, params_};
    fault_hook_(f);
  }
  local_loss_ = m.loss;
  if (runs_collectives(dp_)) average_metrics(m, span_sums);
  if (spans) {
    if (span_sums[1] > 0) m.loss_reasoning = span_sums[0] / span_sums[1];
    if (span_sums[3] > 0) m.loss_final = span_sums[2] / span_sums[3];
  }
  return m;
}

// The loss metrics' mean over dp; tokens and the span sums are summed.
void Trainer::average_metrics(StepMetrics& m, std::span<double> span_sums) {
  double sums[6] = {m.loss, m.aux_loss, span_sums[0], span_sums[1], span_sums[2], span_sums[3]};
  dp_.all_reduce_sum(std::span<double>(sums, 6));
  m.loss = sums[0] / dp_.size(), m.aux_loss = sums[1] / dp_.size();
  for (int i = 0; i < 4; ++i) span_sums[std::size_t(i)] = sums[i + 2];
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
  TrainerCounters c;
  c.iteration = iteration_, c.updates = updates_, c.skipped_total = skipped_total_;
  c.skipped_in_a_row = skipped_in_a_row_;
  c.rerun_transient = rerun_transient_, c.skipped_nonfinite = skipped_nonfinite_;
  c.skipped_spiky = skipped_spiky_;
  c.spike_seen = spike_.seen(), c.spike_reference = spike_.reference();
  return c;
}

void Trainer::set_counters(const TrainerCounters& c) {
  iteration_ = c.iteration, updates_ = c.updates, skipped_total_ = c.skipped_total;
  skipped_in_a_row_ = c.skipped_in_a_row;
  rerun_transient_ = c.rerun_transient, skipped_nonfinite_ = c.skipped_nonfinite;
  skipped_spiky_ = c.skipped_spiky;
  spike_.restore(c.spike_seen, c.spike_reference);
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

struct Trainer::Attempt {
  StepMetrics m;
  ClipResult clip;
  Anomaly mine = Anomaly::none;    // this rank's result
  Anomaly agreed = Anomaly::none;  // the world's: what every rank acts on
  std::vector<std::uint64_t> positions;
  double local_loss = 0;
};

// One forward/backward of the step's micro-batches, the clip's norm and the checks.
Trainer::Attempt Trainer::attempt(BatchSource& data, int k, int number) {
  Attempt a;
  attempt_number_ = number;
  a.m = accumulate(data, k);
  a.positions = positions_;
  a.local_loss = local_loss_;
  // The clip's factor goes to the optimizers, which read the grads anyway.
  a.clip = clip_grad_norm(params_, c_.train.clip_grad, /*scale_grads=*/false, *ps_.ep);
  a.m.grad_norm = a.clip.norm;
  a.mine =
      anomaly_of(a.m.loss, a.clip.norm, c_.train.check_for_spiky_loss && spike_.is_spike(a.m.loss));
  a.agreed = agree(a.mine, *ps_.world);
  return a;
}

namespace {

std::string num(double v) {
  if (std::isnan(v)) return "nan";  // not glibc's "-nan" for the sign bit
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string result_of(const StepMetrics& m) {
  return "loss " + num(m.loss) + ", grad norm " + num(m.grad_norm);
}

}  // namespace

StepMetrics Trainer::step(BatchSource& data, int k) {
  const std::uint64_t start = data.position();
  Attempt a = attempt(data, k, 0);
  if (a.agreed != Anomaly::none) {
    // Nothing of the first attempt is kept: accumulate zeroes the grads, the MoE counts go, no
    // optimizer has run; the source hands out the same micro-batches again.
    for (moe::MoeLayer* moe : moe_) moe->discard_step();
    data.seek(start);
    Attempt again = attempt(data, k, 1);
    if (again.agreed != Anomaly::none) {
      for (moe::MoeLayer* moe : moe_) moe->discard_step();
      ++iteration_;
      return skip(a, again, data);
    }
    ++rerun_transient_;
    log::warn("iteration " + std::to_string(iteration_) + ": " + anomaly_text(a.agreed) +
              (a.mine == Anomaly::none ? " on another rank" : "") + " on the first attempt (" +
              result_of(a.m) + "), a clean result when re-run from the same state and " +
              "micro-batches (" + result_of(again.m) +
              "): a transient fault; the re-run's step is taken");
    again.m.rerun = Rerun::transient;
    again.m.anomaly = a.agreed;
    a = std::move(again);
  }
  ++iteration_;
  StepMetrics m = a.m;
  loss_->end_step();
  skipped_in_a_row_ = 0;
  spike_.taken(m.loss);
  for (moe::MoeLayer* moe : moe_) {
    moe->finish_step(dp_);
    if (moe->last_step_stats().cv >= m.load.cv) m.load = moe->last_step_stats();
  }
  const auto lrs = opt_.step(updates_++, a.clip.scale);
  if (!lrs.empty())
    m.lr = lrs.count(OptimizerGroup::matrix) ? lrs.at(OptimizerGroup::matrix) : lrs.begin()->second;
  return m;
}

// The re-run was bad too: deterministic kernels on the same state and data, so the data or the
// model is at fault. Each rank names its own micro-batches' samples.
StepMetrics Trainer::skip(const Attempt& first, const Attempt& again, const BatchSource& data) {
  StepMetrics m = again.m;
  m.skipped = true;
  m.rerun = Rerun::skipped;
  m.anomaly = first.agreed;
  ++skipped_total_;
  ++(again.agreed == Anomaly::spiky_loss ? skipped_spiky_ : skipped_nonfinite_);
  ++skipped_in_a_row_;
  const bool same =
      same_bits(first.m.loss, again.m.loss) && same_bits(first.m.grad_norm, again.m.grad_norm);
  std::string samples;
  for (std::uint64_t p : again.positions)
    samples += (samples.empty() ? "" : " | ") + data.describe(p);
  const std::string what =
      first.agreed == again.agreed
          ? std::string(anomaly_text(again.agreed)) + " again"
          : std::string(anomaly_text(first.agreed)) + ", then " + anomaly_text(again.agreed);
  log::warn("iteration " + std::to_string(m.iteration) + ": " + what +
            " when re-run from the same state and micro-batches (" +
            (same ? "the same result: " : "another result: ") + result_of(again.m) +
            "): a data or model problem; the step is skipped (" +
            std::to_string(skipped_in_a_row_) + " in a row, [train] max_consecutive_skipped = " +
            std::to_string(c_.train.max_consecutive_skipped) + "). " +
            (again.mine == Anomaly::none ? "Another rank's result was bad. " : "") +
            "This rank's own loss (before the mean over data-parallel ranks) " +
            num(again.local_loss) + ", its micro-batches: " + samples);
  if (skipped_in_a_row_ > c_.train.max_consecutive_skipped)
    throw TrainingStopped("training stopped at iteration " + std::to_string(m.iteration) + ": " +
                          std::to_string(skipped_in_a_row_) +
                          " steps in a row had a non-finite loss or grad norm (or a spiky loss) "
                          "that the re-run reproduced ([train] max_consecutive_skipped = " +
                          std::to_string(c_.train.max_consecutive_skipped) +
                          "); the log names each step's samples");
  return m;
}

}  // namespace vpmoe::host::train
