#pragma once
// A process group: the ranks that communicate together (world, tp, dp, ep, expert dp). The
// host builds the groups (vpmoe/parallel.h); modules, the MoE layer and the trainer only receive
// them. Two backends behind one interface: MPI moves CPU tensors, NCCL moves CUDA tensors on
// its own stream. Host-memory spans (counts, loss sums) work with both.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "vpmoe/tensor.h"

namespace vpmoe {

// An operation in flight. wait() makes its result visible to the caller: on the CPU it blocks
// until the data is there; with NCCL it orders vpmoe's current stream after it (no host wait).
// A handle keeps its tensors alive until it is waited on.
class CommWork {
 public:
  virtual ~CommWork() = default;
  virtual void wait() = 0;
};
using CommHandle = std::shared_ptr<CommWork>;

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "world", "dp", "ep", "expert_dp", "tp": for errors and logs.
  virtual std::string name() const { return "world"; }
  // "single", "mpi", "nccl".
  virtual std::string backend() const = 0;

  // Host memory: element-wise sum over the group's ranks, in place; every rank gets the result.
  virtual void all_reduce_sum(std::span<std::int64_t> values) = 0;
  virtual void all_reduce_sum(std::span<double> values) = 0;
  virtual void all_reduce_sum(std::span<float> values) = 0;

  // Tensors (f32, bf16, i32, i64; contiguous, on the backend's device). Sums are element-wise.
  // async = false: done (or stream-ordered) on return, and the handle is null.
  virtual CommHandle all_reduce_sum(const Tensor& t, bool async = false) = 0;  // in place
  // in [size * n] -> out [n]: this rank's n-element block of the sum.
  virtual CommHandle reduce_scatter_sum(const Tensor& in, const Tensor& out,
                                        bool async = false) = 0;
  // in [n] -> out [size * n], rank r's block at r * n.
  virtual CommHandle all_gather(const Tensor& in, const Tensor& out, bool async = false) = 0;
  // Uneven all-to-all over rows of dim 0: send_rows[r] consecutive rows of in go to rank r (in
  // rank order), recv_rows[r] rows from rank r land consecutively in out (in rank order).
  virtual void all_to_all(const Tensor& in, std::span<const std::int64_t> send_rows,
                          const Tensor& out, std::span<const std::int64_t> recv_rows) = 0;
  virtual void broadcast(const Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  // Host bytes from root to every rank (the NCCL unique id, small plans).
  virtual void broadcast_bytes(std::span<std::byte> bytes, int root) = 0;
  // The ranks with the same color form a new group, ordered by key (MPI_Comm_split,
  // ncclCommSplit). Every rank of this group must call it.
  virtual std::unique_ptr<Comm> split(int color, int key, const std::string& name) = 0;
  // Seconds this rank's work waited on this group's collectives since the last call, then
  // zero again: the host blocked in MPI, or vpmoe's CUDA stream stalled on NCCL's results.
  virtual double take_wait_seconds() { return 0; }
};

// Whether the host runs a group's collectives or skips them as the identity: a group of one
// rank skips them, unless it is NCCL's (a one-GPU run with [parallel] backend = "nccl", which
// then takes the multi-GPU path through every collective, with the same bits).
inline bool runs_collectives(const Comm& c) {
  return c.size() > 1 || c.backend() == "nccl";
}

// How long any rank waits for one collective before it gives up with an error naming the
// rank, the group and the operation ([parallel] timeout_s; default 600 s). Process-wide.
void set_comm_timeout(double seconds);
double comm_timeout();

// After an error on this process of a multi-process run: ends every process of the run
// (MPI_Abort) with exit code `code`, so that none waits for this one until its timeout. Returns
// when there is nothing to end (one process, or MPI not in use).
void abort_parallel_run(int code);

// One process: rank 0 of 1, every collective the identity (or a copy).
std::unique_ptr<Comm> single_process_comm();
// True when this build has MPI (multi-process CPU runs under mpirun).
bool mpi_available();
// MPI_COMM_WORLD. Initialises MPI on first use (finalised at exit); throws vpmoe::Error when
// the build has no MPI.
std::unique_ptr<Comm> mpi_world_comm();

}  // namespace vpmoe
