#pragma once
// Who started this process, and the world communicator that follows from it. One process per
// GPU: the host takes Device::cuda(local_rank).
#include <memory>
#include <string>

#include "vpmoe/comm.h"
#include "vpmoe/device.h"

namespace vpmoe {

struct Launch {
  // "mpi", "slurm", "torchrun" (RANK/WORLD_SIZE/... set by hand, scripts/launch.sh or
  // torchrun) or "none" (one process).
  std::string launcher = "none";
  int rank = 0, world = 1, local_rank = 0;
  // Where rank 0's TCP store listens (launches without MPI); empty / 0 when not set.
  std::string master_addr;
  int master_port = 0;
};

// Reads the environment, first match wins: MPI (OMPI_COMM_WORLD_*, PMI_RANK/PMI_SIZE,
// PMIX_RANK), Slurm (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID), torchrun-style (RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), else one process. Throws vpmoe::Error
// naming the variable that is missing or malformed.
Launch detect_launch();

// This rank's CUDA device among the device_count it sees: local_rank, or 0 when the launcher
// gave each process its own single device (srun --gpus-per-task, CUDA_VISIBLE_DEVICES). Throws
// vpmoe::Error when neither fits.
int local_cuda_device(const Launch& launch, int device_count);

// The world group of this launch. backend: "auto" (one process: single; else NCCL for a CUDA
// device, MPI on the CPU), "nccl", "mpi" or "none" (one process only). Every rank must call
// it; waits at most comm_timeout() for the others. NCCL's unique id comes from rank 0 over
// MPI under an MPI launch, else through the TCP store at MASTER_ADDR:MASTER_PORT.
std::shared_ptr<Comm> world_comm(const Launch& launch, Device device, const std::string& backend);

}  // namespace vpmoe
