#include "grape_a.h"

#include <bit>
#include <cmath>

#include "vpmoe/config.h"
#include "vpmoe/error.h"

namespace vpmoe::grape_a {
namespace {

std::vector<double> power_of_two_slopes(int n) {
  const double r = std::exp2(-8.0 / n);
  std::vector<double> s;
  for (int h = 0; h < n; ++h) s.push_back(std::pow(r, h + 1));
  return s;
}

}  // namespace

std::vector<double> alibi_slopes(int heads) {
  if (heads <= 0) throw Error("positional.grape_a: the head count must be positive");
  if (std::has_single_bit(static_cast<unsigned>(heads))) return power_of_two_slopes(heads);
  const int p = static_cast<int>(std::bit_floor(static_cast<unsigned>(heads)));
  std::vector<double> s = power_of_two_slopes(p);
  const std::vector<double> wide = power_of_two_slopes(2 * p);
  for (std::size_t i = 0; static_cast<int>(s.size()) < heads; i += 2) s.push_back(wide[i]);
  return s;
}

GrapeA::GrapeA(int heads, Device device) : heads_(heads) {
  const std::vector<double> s = alibi_slopes(heads);
  slopes_ =
      Tensor::from_floats(std::vector<float>(s.begin(), s.end()), {heads}, DType::f32, device);
}

std::unique_ptr<Positional> build(const BuildArgs& args) {
  if (!args.config) throw Error("positional.grape_a needs the run configuration");
  const int heads = args.config->model.num_attention_heads;
  if (heads <= 0)
    args.config->fail(
        "model.num_attention_heads",
        "positional.grape_a needs a positive head count, found " + std::to_string(heads));
  return std::make_unique<GrapeA>(heads, args.device);
}

}  // namespace vpmoe::grape_a
