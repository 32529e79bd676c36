#pragma once
// The DeepSeek-V3 routing math of spec/moe.md §2 and §4 on host arrays, row by row: group-
// limited top-k selection on biased sigmoid scores, combine weights from the unbiased scores,
// the sequence-level aux loss, and the gradients of both with respect to the logits.
#include <cstdint>
#include <span>
#include <vector>

namespace vpmoe::router {

struct RoutingShape {
  int experts = 256, k = 4, groups = 8, group_topk = 4;
  double scale = 2.5;
};

// For one token: scores sigma [E] (sigmoid of the logits) and bias [E] -> the k chosen
// experts (highest biased score first; ties go to the lower index) and their weights
// scale * sigma_e / (sum of the chosen sigma + 1e-20).
void select_experts(const RoutingShape& s, std::span<const float> sigma,
                    std::span<const float> bias, std::span<std::int32_t> experts,
                    std::span<float> weights);

// d loss / d sigma of one token from the weights' gradient (only the chosen experts move).
void combine_backward(const RoutingShape& s, std::span<const float> sigma,
                      std::span<const std::int32_t> experts, std::span<const float> dweights,
                      std::span<double> dsigma);

// Sequence-level aux loss over one sequence's rows (T tokens): P = sigma / sum(sigma) over all
// experts, c_e = tokens whose plain top-k of P holds e; returns
// coeff * E / (k T^2) * sum_e c_e * sum_t P_te and adds grad_scale * dL/dsigma to dsigma.
double seq_aux_loss(const RoutingShape& s, double coeff, std::span<const float> sigma,
                    std::int64_t T, double grad_scale, std::span<double> dsigma);

}  // namespace vpmoe::router
