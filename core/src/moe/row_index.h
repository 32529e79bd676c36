#pragma once
// Row indices built on the host (the dispatchers' permutations) as an i32 tensor on device.
#include <cstdint>
#include <vector>

#include "vpmoe/tensor.h"

namespace vpmoe::moe {

inline Tensor row_index(const std::vector<std::int32_t>& v, Device d) {
  Tensor t = Tensor::empty({std::int64_t(v.size())}, DType::i32, d);
  device_copy(t.data(), d, v.data(), Device::cpu(), v.size() * sizeof(std::int32_t));
  return t;
}

}  // namespace vpmoe::moe
