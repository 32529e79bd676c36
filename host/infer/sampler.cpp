#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "vpmoe/error.h"

namespace vpmoe::infer {

void validate(const SamplingOptions& o) {
  if (!(o.temperature >= 0.0) || !std::isfinite(o.temperature))
    throw Error("--temperature: expected a finite number >= 0, found " +
                std::to_string(o.temperature));
  if (!(o.top_p > 0.0 && o.top_p <= 1.0))
    throw Error("--top-p: expected a number in (0, 1], found " + std::to_string(o.top_p));
  if (o.top_k < 0) throw Error("--top-k: expected >= 0, found " + std::to_string(o.top_k));
}

std::int32_t argmax(std::span<const float> logits) {
  if (logits.empty()) throw Error("argmax of an empty row");
  std::size_t best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best] || (std::isnan(logits[best]) && !std::isnan(logits[i]))) best = i;
  return std::int32_t(best);
}

Sampler::Sampler(SamplingOptions o) : o_(o), rng_(o.seed) {
  validate(o_);
}

std::vector<double> Sampler::distribution(std::span<const float> logits) const {
  const std::size_t V = logits.size();
  std::vector<double> p(V, 0.0);
  if (V == 0) throw Error("sampling from an empty row");
  if (o_.temperature == 0.0) {
    p[std::size_t(argmax(logits))] = 1.0;
    return p;
  }
  // Candidates by descending logit (ties: lower id first, so the order is deterministic).
  std::vector<std::int32_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  auto by_logit = [&](std::int32_t a, std::int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::size_t keep = o_.top_k > 0 ? std::min<std::size_t>(V, std::size_t(o_.top_k)) : V;
  std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(keep), order.end(), by_logit);
  order.resize(keep);
  const double top = double(logits[order[0]]) / o_.temperature;
  std::vector<double> w(keep);
  double sum = 0.0;
  for (std::size_t i = 0; i < keep; ++i) {
    w[i] = std::exp(double(logits[order[i]]) / o_.temperature - top);
    sum += w[i];
  }
  // Nucleus: the shortest prefix whose mass reaches top_p (the token crossing it included).
  std::size_t n = keep;
  if (o_.top_p < 1.0) {
    double acc = 0.0;
    for (std::size_t i = 0; i < keep; ++i) {
      acc += w[i] / sum;
      if (acc >= o_.top_p) {
        n = i + 1;
        break;
      }
    }
  }
  double kept = std::accumulate(w.begin(), w.begin() + std::ptrdiff_t(n), 0.0);
  for (std::size_t i = 0; i < n; ++i) p[std::size_t(order[i])] = w[i] / kept;
  return p;
}

std::int32_t Sampler::next(std::span<const float> logits) {
  if (o_.temperature == 0.0) return argmax(logits);
  std::vector<double> p = distribution(logits);
  // A uniform draw in [0, 1) against the cumulative mass, in id order.
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  double acc = 0.0;
  std::int32_t last = -1;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0.0) continue;
    acc += p[i];
    last = std::int32_t(i);
    if (u < acc) return last;
  }
  return last;  // rounding left u past the total
}

}  // namespace vpmoe::infer
