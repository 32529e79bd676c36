#include "routing_math.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace vpmoe::router {

namespace {

// Indices of the n largest values, largest first; ties to the lower index.
std::vector<int> top_n(std::span<const double> v, int n) {
  std::vector<int> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(),
                    [&](int a, int b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  idx.resize(std::size_t(n));
  return idx;
}

}  // namespace

void select_experts(const RoutingShape& s, std::span<const float> sigma,
                    std::span<const float> bias, std::span<std::int32_t> experts,
                    std::span<float> weights) {
  const int E = s.experts, per_group = E / s.groups, in_group = s.k / s.group_topk;
  std::vector<double> u(static_cast<std::size_t>(E));
  for (int e = 0; e < E; ++e) u[e] = double(sigma[e]) + (bias.empty() ? 0.0 : double(bias[e]));
  // Group score: the sum of its in_group best biased scores.
  std::vector<double> group_score(static_cast<std::size_t>(s.groups));
  for (int g = 0; g < s.groups; ++g) {
    std::span<const double> part(u.data() + g * per_group, std::size_t(per_group));
    double sum = 0;
    for (int i : top_n(part, in_group)) sum += part[i];
    group_score[g] = sum;
  }
  std::vector<double> masked(std::size_t(E), -std::numeric_limits<double>::infinity());
  for (int g : top_n(group_score, s.group_topk))
    for (int e = g * per_group; e < (g + 1) * per_group; ++e) masked[e] = u[e];
  const std::vector<int> chosen = top_n(masked, s.k);
  double total = 0;
  for (int e : chosen) total += sigma[e];
  for (int i = 0; i < s.k; ++i) {
    experts[i] = chosen[i];
    weights[i] = float(s.scale * sigma[chosen[i]] / (total + 1e-20));
  }
}

void combine_backward(const RoutingShape& s, std::span<const float> sigma,
                      std::span<const std::int32_t> experts, std::span<const float> dweights,
                      std::span<double> dsigma) {
  // w_i = c sigma_i / S: dsigma_j = c dw_j / S - c sum_i dw_i sigma_i / S^2.
  double S = 1e-20, dot = 0;
  for (int i = 0; i < s.k; ++i) S += sigma[experts[i]];
  for (int i = 0; i < s.k; ++i) dot += double(dweights[i]) * sigma[experts[i]];
  for (int i = 0; i < s.k; ++i)
    dsigma[experts[i]] += s.scale * (double(dweights[i]) / S - dot / (S * S));
}

double seq_aux_loss(const RoutingShape& s, double coeff, std::span<const float> sigma,
                    std::int64_t T, double grad_scale, std::span<double> dsigma) {
  const int E = s.experts;
  std::vector<double> P(static_cast<std::size_t>(T * E)), sums(static_cast<std::size_t>(T)),
      psum(static_cast<std::size_t>(E), 0.0);
  std::vector<double> count(std::size_t(E), 0.0);
  for (std::int64_t t = 0; t < T; ++t) {
    double total = 0;
    for (int e = 0; e < E; ++e) total += sigma[t * E + e];
    sums[t] = total;
    for (int e = 0; e < E; ++e) psum[e] += (P[t * E + e] = sigma[t * E + e] / total);
    for (int e : top_n(std::span<const double>(P.data() + t * E, std::size_t(E)), s.k))
      count[e] += 1;
  }
  const double f = coeff * E / (double(s.k) * double(T) * double(T));
  double loss = 0;
  for (int e = 0; e < E; ++e) loss += f * count[e] * psum[e];
  if (grad_scale != 0) {
    // dL/dP_te = f c_e; P = sigma / S: dsigma_te += (dP_te - sum_e' dP_te' P_te') / S_t.
    for (std::int64_t t = 0; t < T; ++t) {
      double dot = 0;
      for (int e = 0; e < E; ++e) dot += f * count[e] * P[t * E + e];
      for (int e = 0; e < E; ++e) dsigma[t * E + e] += grad_scale * (f * count[e] - dot) / sums[t];
    }
  }
  return loss;
}

}  // namespace vpmoe::router
