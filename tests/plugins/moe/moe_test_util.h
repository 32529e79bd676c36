#pragma once
// Shared by the MoE tests: every parameter of a module set to fresh random values (returned by
// name, in double), and a tensor with the same values on CUDA (in bf16 when asked) and on the
// CPU (rounded like the CUDA copy).
#include <map>
#include <random>
#include <string>
#include <utility>

#include "core/ops_cpu/cpu_test_util.h"
#include "vpmoe/module.h"

namespace vpmoe::testing {

using Params = std::map<std::string, Vec>;

inline Params randomise(Module& m, std::mt19937& g) {
  Params out;
  for (Parameter* p : m.parameters()) {
    std::vector<float> v = randn(g, p->value.numel(), -0.5f, 0.5f);
    p->value.copy_from(Tensor::from_floats(v, p->value.shape(), DType::f32));
    p->sync_compute();
    out[p->name] = Vec(v.begin(), v.end());
  }
  return out;
}

// {CUDA tensor, CPU f32 tensor with the same values}.
inline std::pair<Tensor, Tensor> same_on_gpu(const Tensor& cpu_f32, bool bf16) {
  Tensor f = cpu_f32.to(Device::cuda(0));
  if (!bf16) return {f, cpu_f32};
  Tensor b = Tensor::empty(cpu_f32.shape(), DType::bf16, Device::cuda(0)), back = f.clone();
  ops::cast(f, b);
  ops::cast(b, back);
  return {b, back.to(Device::cpu())};
}

}  // namespace vpmoe::testing
