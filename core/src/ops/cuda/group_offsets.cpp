#include "ops/cuda/group_offsets.h"

#include <string>
#include <vector>

#include "vpmoe/error.h"

namespace vpmoe::ops::cuda {

std::int64_t* upload_group_offsets(std::span<const std::int64_t> rows, Device d, const char* op,
                                   std::int64_t total) {
  std::vector<std::int64_t> off(rows.size() + 1, 0);
  for (std::size_t g = 0; g < rows.size(); ++g) {
    VPMOE_CHECK(rows[g] >= 0, std::string(op) + ": negative row count");
    off[g + 1] = off[g] + rows[g];
  }
  VPMOE_CHECK(total < 0 || off.back() == total, std::string(op) + ": row counts sum to " +
                                                    std::to_string(off.back()) + ", x has " +
                                                    std::to_string(total) + " rows");
  auto* p = static_cast<std::int64_t*>(device_alloc(d, off.size() * sizeof(off[0])));
  device_copy(p, d, off.data(), Device::cpu(), off.size() * sizeof(off[0]));
  return p;
}

}  // namespace vpmoe::ops::cuda
