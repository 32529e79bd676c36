#pragma once
// The NCCL backend (comm/cuda/nccl_comm.cpp), usable from code built without CUDA: there every
// function but nccl_available() throws "this build has no NCCL".
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "vpmoe/comm.h"
#include "vpmoe/device.h"

namespace vpmoe {

bool nccl_available();
// The size of an ncclUniqueId (NCCL_UNIQUE_ID_BYTES; checked where nccl.h is included).
constexpr std::size_t kNcclUniqueIdBytes = 128;
// A fresh ncclUniqueId (rank 0 makes it; every rank of the communicator needs the same bytes).
std::vector<std::byte> nccl_unique_id();
// Rank `rank` of a `size`-rank NCCL communicator on `device` (a CUDA device), named "world".
// Blocks until every rank has joined; a rank that does not within comm_timeout() ends the
// process with an error, as every later stalled or failed operation does.
std::unique_ptr<Comm> nccl_comm(std::span<const std::byte> unique_id, int rank, int size,
                                Device device);

}  // namespace vpmoe
