#pragma once
// A process group: the ranks that reduce together (world, dp, ep, tp). The host builds the
// groups; modules and the MoE layer only receive them. Host-memory collectives here; device
// collectives (NCCL) come with the data-parallel step.
#include <cstdint>
#include <memory>
#include <span>

namespace vpmoe {

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Element-wise sum over the group's ranks, in place; every rank gets the same result.
  virtual void all_reduce_sum(std::span<std::int64_t> values) = 0;
  virtual void all_reduce_sum(std::span<double> values) = 0;
  virtual void all_reduce_sum(std::span<float> values) = 0;  // main grads (CPU)
};

// One process: rank 0 of 1, reductions are the identity.
std::unique_ptr<Comm> single_process_comm();
// True when this build has MPI (multi-process CPU runs under mpirun).
bool mpi_available();
// MPI_COMM_WORLD. Initialises MPI on first use (finalised at exit); throws vpmoe::Error when
// the build has no MPI.
std::unique_ptr<Comm> mpi_world_comm();

}  // namespace vpmoe
