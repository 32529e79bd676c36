#pragma once
// The span terms of loss.span_ce and loss.kd_weighted_ce (docs/training.md "Objectives"):
// a label counts in the reasoning term when its loss mask is > 0 and its span label is 1
// (assistant analysis), in the final term when the mask is > 0 and the span is 2 (assistant
// final); every other label (prompt, span 0, or a masked-out label) has weight 0. Each term is
// a mean over its own labels of the global batch (the counts are loss totals, summed over the
// step's micro-batches and data-parallel ranks); a term with no labels contributes 0.
#include <cstdint>
#include <span>
#include <string>

#include "vpmoe/config.h"
#include "vpmoe/error.h"
#include "vpmoe/loss.h"

namespace vpmoe::losses {

enum class Term { none, reasoning, final_answer };

inline Term term_of(const LossInputs& in, std::int64_t i) {
  if (!(in.mask_at(i) > 0.f)) return Term::none;
  const auto s = SpanLabel(in.span[std::size_t(i)]);
  if (s == SpanLabel::reasoning) return Term::reasoning;
  if (s == SpanLabel::final_answer) return Term::final_answer;
  return Term::none;
}

// Adds the labels of each term: totals[0] reasoning, totals[1] final (mask-weighted counts).
inline void add_span_counts(const LossInputs& in, std::span<double> totals) {
  for (std::int64_t i = 0; i < in.tokens; ++i) {
    const Term t = term_of(in, i);
    if (t == Term::reasoning) totals[0] += in.mask_at(i);
    if (t == Term::final_answer) totals[1] += in.mask_at(i);
  }
}

// The per-label factor of each term: w_r / n_r and w_f / n_f (0 for a term with no labels).
struct SpanScale {
  double reasoning = 0, final_answer = 0;
  SpanScale() = default;
  SpanScale(const LossConfig& c, double n_reasoning, double n_final)
      : reasoning(n_reasoning > 0 ? c.reasoning_weight / n_reasoning : 0.0),
        final_answer(n_final > 0 ? c.final_weight / n_final : 0.0) {}
  double of(Term t) const {
    return t == Term::reasoning ? reasoning : t == Term::final_answer ? final_answer : 0.0;
  }
};

inline void require_span(const std::string& loss, bool has_span) {
  if (!has_span)
    throw Error(loss +
                " needs span labels, but no dataset of [data] paths has a PREFIX_span sidecar "
                "(preprocess --format harmony, or --format tokens with \"span\"); use "
                "[plugins] loss = \"loss.ce\" for data without spans");
}

}  // namespace vpmoe::losses
