#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace vpmoe::host::train {

LrSchedule::LrSchedule(const TrainConfig& t, LrRange range)
    : style_(t.lr_decay_style),
      wsd_style_(t.lr_wsd_decay_style),
      warmup_(t.lr_warmup_iters),
      decay_(t.lr_decay_iters > 0 ? t.lr_decay_iters : t.train_iters),
      wsd_decay_(t.lr_wsd_decay_iters),
      range_(range) {}

double LrSchedule::at(std::int64_t s) const {
  const double hi = range_.max_lr, lo = range_.min_lr;
  if (warmup_ > 0 && s <= warmup_) return hi * double(s) / double(warmup_);
  // As Megatron: constant ignores the decay steps; the others end at min_lr.
  if (style_ == "constant") return hi;
  if (s > decay_) return lo;
  if (style_ == "inverse-square-root")
    return std::max(lo, hi * std::sqrt(double(std::max<std::int64_t>(warmup_, 1))) /
                            std::sqrt(double(std::max<std::int64_t>(s, 1))));
  double c = 1;
  if (style_ == "WSD") {
    const std::int64_t start = decay_ - wsd_decay_;
    if (s > start && wsd_decay_ > 0) {
      const double r = double(s - start) / double(wsd_decay_);
      if (wsd_style_ == "linear")
        c = 1 - r;
      else if (wsd_style_ == "cosine")
        c = 0.5 * (std::cos(std::numbers::pi * r) + 1);
      else if (wsd_style_ == "exponential")
        c = 2 * std::pow(0.5, r) - 1;
      else  // minus_sqrt
        c = 1 - std::sqrt(r);
    }
  } else {
    const double r = decay_ > warmup_
                         ? std::clamp(double(s - warmup_) / double(decay_ - warmup_), 0.0, 1.0)
                         : 1.0;
    c = style_ == "linear" ? 1 - r : 0.5 * (std::cos(std::numbers::pi * r) + 1);  // cosine
  }
  return lo + c * (hi - lo);
}

}  // namespace vpmoe::host::train
