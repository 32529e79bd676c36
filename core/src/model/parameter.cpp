#include "vpmoe/parameter.h"

#include "vpmoe/ops.h"

namespace vpmoe {

std::uint64_t parameter_seed(std::uint64_t run_seed, std::string_view name) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return run_seed ^ h;
}

std::string_view role_name(ParamRole r) {
  switch (r) {
    case ParamRole::embedding:
      return "embedding";
    case ParamRole::output:
      return "output";
    case ParamRole::matrix:
      return "matrix";
    case ParamRole::expert_matrix:
      return "expert_matrix";
    case ParamRole::vector:
      return "vector";
    case ParamRole::bias:
      return "bias";
    case ParamRole::norm:
      return "norm";
    case ParamRole::router:
      return "router";
  }
  return "?";
}

std::string_view sharding_name(Sharding s) {
  switch (s) {
    case Sharding::replicated:
      return "replicated";
    case Sharding::tp_column:
      return "tp_column";
    case Sharding::tp_row:
      return "tp_row";
    case Sharding::expert:
      return "expert";
  }
  return "?";
}

Parameter Parameter::make(std::string name, Shape shape, ParamRole role, Device device,
                          bool bf16_compute) {
  Parameter p;
  p.name = std::move(name);
  p.role = role;
  // Biases, norms and 0/1-D learnables are not decayed (spec/optimizer.md §1).
  p.weight_decay = !(role == ParamRole::bias || role == ParamRole::norm ||
                     (role == ParamRole::vector && shape.size() == 1));
  p.value = Tensor::zeros(shape, DType::f32, device);
  p.grad = Tensor::zeros(shape, DType::f32, device);
  p.compute =
      (bf16_compute && device.is_cuda()) ? Tensor::zeros(shape, DType::bf16, device) : p.value;
  return p;
}

void Parameter::sync_compute() {
  if (compute.data() != value.data()) ops::cast(value, compute);
}

}  // namespace vpmoe
