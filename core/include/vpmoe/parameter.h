#pragma once
// A trainable tensor and the attributes the optimizer routes it by (role, not name).
#include <cstdint>
#include <string>
#include <string_view>

#include "vpmoe/tensor.h"

namespace vpmoe {

enum class ParamRole {
  embedding,      // input embedding table
  output,         // LM head
  matrix,         // a 2-D weight (projections, FFN matrices)
  expert_matrix,  // a stack [E, m, n] of per-expert 2-D matrices, each optimised on its own
  vector,         // other 1-D / 0-D learnables (softmax offsets, log-frequencies, lambdas)
  bias,
  norm,    // norm scales
  router,  // router weight [E, H]
};

enum class Sharding {
  replicated,
  tp_column,  // split along output features across the tp group
  tp_row,     // split along input features across the tp group
  expert,     // experts split across the ep group
};

std::string_view role_name(ParamRole r);

// The seed of a parameter's initial values: the run seed mixed with the parameter's name
// (FNV-1a), so the values depend on neither the device nor the order modules are built in.
std::uint64_t parameter_seed(std::uint64_t run_seed, std::string_view name);
std::string_view sharding_name(Sharding s);

struct Parameter {
  std::string name;  // unique within the model, e.g. "layers.3.attention.w_o"
  Tensor value;      // fp32 main copy
  Tensor grad;       // fp32 main grad, same shape; accumulated over micro-batches
  Tensor compute;    // weights the kernels read: bf16 on CUDA, == value on the CPU
  ParamRole role = ParamRole::matrix;
  Sharding sharding = Sharding::replicated;
  bool weight_decay = true;

  // Allocates value, grad (zeroed) and compute on device; compute is bf16 on CUDA when
  // bf16_compute, else it shares value's buffer.
  static Parameter make(std::string name, Shape shape, ParamRole role, Device device,
                        bool bf16_compute = false);
  // Refreshes compute from value (after an optimizer step).
  void sync_compute();
};

}  // namespace vpmoe
