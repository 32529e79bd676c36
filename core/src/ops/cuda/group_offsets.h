#pragma once
// The row offsets of consecutive groups (the MoE experts' rows) in device memory, for the
// kernels that find a row's group or a group's rows.
#include <cstdint>
#include <span>

#include "vpmoe/device.h"

namespace vpmoe::ops::cuda {

// off[0] = 0, off[g + 1] = off[g] + rows[g] (G + 1 entries) on d; the caller frees it with
// device_free. Throws naming op when a count is negative or, with total >= 0, when the counts
// do not sum to total.
std::int64_t* upload_group_offsets(std::span<const std::int64_t> rows, Device d, const char* op,
                                   std::int64_t total = -1);

}  // namespace vpmoe::ops::cuda
