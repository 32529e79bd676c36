#pragma once
// The training objective (plugin kind "loss", [plugins] loss, docs/training.md "Objectives").
// The LM head and the cross-entropy stay fused (ops::linear_cross_entropy_weighted): a loss
// plugin never sees logits, only each label's side data, and turns it into per-label weights
// w_i so that the step's objective over its global batch (every micro-batch of the step on
// every data-parallel rank) is
//     L = sum_i w_i * CE_i.
// The host runs, for every step (and again for a re-run of it):
//   1. add_totals() for each micro-batch of this rank; the host sums the totals over the
//      data-parallel ranks (one all-reduce), so that they are the global batch's;
//   2. begin_step(totals) once;
//   3. weights() for each micro-batch, then its forward and backward;
//   4. end_step() when the step is taken (not for a skipped step), so that state that
//      advances with the data (a running mean) advances once per step taken.
// state() / load_state() go into the checkpoint's state.json (doubles, restored bit for bit).
#include <cstdint>
#include <map>
#include <span>
#include <string>

namespace vpmoe {

// Span labels of the PREFIX_span sidecar (docs/data.md), shifted with the labels.
enum class SpanLabel : std::uint8_t { prompt = 0, reasoning = 1, final_answer = 2 };

// One micro-batch's side data on the host, one value per label ([batch * seq_len]).
struct LossInputs {
  std::int64_t tokens = 0;              // labels in the micro-batch
  std::span<const float> mask;          // loss mask (0/1); empty: every label counts
  std::span<const std::uint8_t> span;   // SpanLabel values; empty: no span sidecar
  std::span<const float> teacher_logp;  // teacher log-prob of each label, NaN where none;
                                        // empty: no teacher_logp sidecar
  float mask_at(std::int64_t i) const { return mask.empty() ? 1.f : mask[std::size_t(i)]; }
};

class Loss {
 public:
  static constexpr const char* kind = "loss";
  virtual ~Loss() = default;
  virtual std::string spec_name() const = 0;
  // Throws (naming the loss and what is missing) when the training data lacks side data the
  // loss needs: has_span / has_teacher_logp say whether the batches carry them.
  virtual void check_inputs(bool has_span, bool has_teacher_logp) const {
    (void)has_span, (void)has_teacher_logp;
  }
  // How many sums over the global batch the loss needs before it can weight any label.
  virtual int num_totals() const = 0;
  // Adds one micro-batch's contributions to totals (num_totals() entries).
  virtual void add_totals(const LossInputs& in, std::span<double> totals) const = 0;
  // The step's totals over its global batch; called once per attempt, before weights().
  virtual void begin_step(std::span<const double> totals) = 0;
  // w: in.tokens weights, L = sum over the global batch of w_i * CE_i.
  virtual void weights(const LossInputs& in, std::span<float> w) const = 0;
  // The step was taken.
  virtual void end_step() {}
  virtual std::map<std::string, double> state() const { return {}; }
  virtual void load_state(const std::map<std::string, double>& state) { (void)state; }
};

}  // namespace vpmoe
