// Seeded init from philox.h: element i depends only on (seed, offset + i). Compiled with
// -ffp-contract=off (core/CMakeLists.txt) so the double arithmetic matches the CUDA bits.
#include "ops/cpu/common.h"
#include "ops/cpu/cpu_ops.h"
#include "ops/philox.h"

namespace vpmoe::ops::cpu {
namespace {

// normal: a = mean, b = std; uniform: a = lo, b = hi - lo (as ops/cuda/init.cu).
template <bool Normal>
void init(Tensor& t, double a, double b, std::uint64_t seed, std::uint64_t offset, const char* op) {
  detail::check_f32(t, op);
  float* p = t.data_as<float>();
  detail::parallel_for(t.numel(), 64, [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) {
      std::uint64_t ctr = offset + std::uint64_t(i);
      double r = Normal ? rng::normal(ctr, seed) : rng::uniform(ctr, seed);
      p[i] = float(a + b * r);
    }
  });
}

}  // namespace

void init_normal(Tensor& t, float mean, float std, std::uint64_t seed, std::uint64_t offset) {
  init<true>(t, mean, std, seed, offset, "init_normal");
}

void init_uniform(Tensor& t, float lo, float hi, std::uint64_t seed, std::uint64_t offset) {
  init<false>(t, lo, double(hi) - double(lo), seed, offset, "init_uniform");
}

}  // namespace vpmoe::ops::cpu
