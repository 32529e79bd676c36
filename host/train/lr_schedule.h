#pragma once
// Megatron's learning-rate schedules (spec/training.md §3) for one optimizer group's range:
// linear warmup from 0, then constant, linear, cosine, inverse-square-root or WSD (with a
// linear, cosine, exponential or 1 - sqrt anneal), and min_lr after the decay steps.
#include <cstdint>
#include <string>

#include "vpmoe/config.h"
#include "vpmoe/optimizer.h"

namespace vpmoe::host::train {

class LrSchedule {
 public:
  LrSchedule(const TrainConfig& t, LrRange range);
  // The learning rate of step s (0-based: the update that step s makes).
  double at(std::int64_t s) const;

 private:
  std::string style_, wsd_style_;
  std::int64_t warmup_, decay_, wsd_decay_;
  LrRange range_;
};

}  // namespace vpmoe::host::train
