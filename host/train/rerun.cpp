#include "train/rerun.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace vpmoe::host::train {

const char* anomaly_text(Anomaly a) {
  switch (a) {
    case Anomaly::nonfinite_loss:
      return "non-finite loss";
    case Anomaly::nonfinite_grad_norm:
      return "non-finite grad norm";
    case Anomaly::spiky_loss:
      return "spiky loss";
    case Anomaly::none:
      break;
  }
  return "";
}

const char* anomaly_key(Anomaly a) {
  switch (a) {
    case Anomaly::nonfinite_loss:
      return "nonfinite_loss";
    case Anomaly::nonfinite_grad_norm:
      return "nonfinite_grad_norm";
    case Anomaly::spiky_loss:
      return "spiky_loss";
    case Anomaly::none:
      break;
  }
  return "";
}

Anomaly anomaly_of(double loss, double grad_norm, bool spike) {
  if (!std::isfinite(loss)) return Anomaly::nonfinite_loss;
  if (!std::isfinite(grad_norm)) return Anomaly::nonfinite_grad_norm;
  return spike ? Anomaly::spiky_loss : Anomaly::none;
}

Anomaly agree(Anomaly mine, Comm& world) {
  if (!runs_collectives(world)) return mine;
  std::int64_t kinds[3] = {0, 0, 0};
  if (mine != Anomaly::none) kinds[int(mine) - 1] = 1;
  world.all_reduce_sum(std::span<std::int64_t>(kinds, 3));
  for (int i = 0; i < 3; ++i)
    if (kinds[i] > 0) return Anomaly(i + 1);
  return Anomaly::none;
}

bool same_bits(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof a) == 0;
}

bool SpikeReference::is_spike(double loss) const {
  return seen_ >= samples_ && std::isfinite(loss) && std::fabs(loss) >= factor_ * max_;
}

void SpikeReference::taken(double loss) {
  if (seen_ >= samples_ || !std::isfinite(loss)) return;
  ++seen_;
  max_ = std::max(max_, std::fabs(loss));
}

}  // namespace vpmoe::host::train
