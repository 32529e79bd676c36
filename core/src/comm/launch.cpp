// Launcher detection from the environment, and the world communicator built from it.
#include "comm/launch.h"

#include <charconv>
#include <cstdlib>
#include <optional>

#include "comm/nccl_backend.h"
#include "comm/tcp_store.h"
#include "vpmoe/error.h"

namespace vpmoe {
namespace {

// An empty variable counts as unset (`RANK= cmd` is a common way to clear one).
std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

// The first of names that is set.
const char* first_set(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (env(n)) return n;
  return nullptr;
}

int parse_int(const char* name, const std::string& launcher) {
  const std::string v = *env(name);
  int out = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size())
    throw Error(std::string(name) + "=" + v + " is not a whole number (" + launcher + " launch)");
  return out;
}

// A variable that must be set, with its value in [lo, hi].
int need_int(const char* name, int lo, int hi, const std::string& launcher,
             const std::string& because) {
  if (!env(name))
    throw Error(std::string(name) + " is not set, but " + because + " (" + launcher + " launch)");
  const int v = parse_int(name, launcher);
  if (v < lo || v > hi)
    throw Error(std::string(name) + "=" + std::to_string(v) + " is out of range [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "] (" + launcher + " launch)");
  return v;
}

// The first set variable of names as an int in [lo, hi], else fallback.
int optional_int(std::initializer_list<const char*> names, int lo, int hi, int fallback,
                 const std::string& launcher) {
  const char* n = first_set(names);
  return n ? need_int(n, lo, hi, launcher, "") : fallback;
}

constexpr int kMaxRanks = 1 << 24;

void read_master(Launch& l) {
  if (auto a = env("MASTER_ADDR")) l.master_addr = *a;
  if (env("MASTER_PORT")) l.master_port = need_int("MASTER_PORT", 1, 65535, l.launcher, "");
}

Launch from_mpi(const std::string& rank_var) {
  Launch l;
  l.launcher = "mpi";
  const std::string why = rank_var + " is";
  // Open MPI and MPICH name their own size; PMIx leaves it to the launcher (mpirun, srun).
  const char* size_var =
      rank_var == "OMPI_COMM_WORLD_RANK" ? "OMPI_COMM_WORLD_SIZE"
      : rank_var == "PMI_RANK"
          ? "PMI_SIZE"
          : first_set({"OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"});
  l.world = need_int(size_var ? size_var : "SLURM_NTASKS", 1, kMaxRanks, l.launcher, why);
  l.rank = need_int(rank_var.c_str(), 0, l.world - 1, l.launcher, why);
  l.local_rank = optional_int(
      {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "SLURM_LOCALID"}, 0,
      l.world - 1, 0, l.launcher);
  read_master(l);
  return l;
}

}  // namespace

Launch detect_launch() {
  if (const char* r = first_set({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"}))
    return from_mpi(r);
  if (env("SLURM_PROCID")) {
    Launch l;
    l.launcher = "slurm";
    // SLURM_STEP_NUM_TASKS is the srun step's size; SLURM_NTASKS the allocation's.
    const char* size_var = first_set({"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_NPROCS"});
    l.world =
        need_int(size_var ? size_var : "SLURM_NTASKS", 1, kMaxRanks, l.launcher, "SLURM_PROCID is");
    l.rank = need_int("SLURM_PROCID", 0, l.world - 1, l.launcher, "");
    l.local_rank = optional_int({"SLURM_LOCALID"}, 0, l.world - 1, 0, l.launcher);
    read_master(l);
    return l;
  }
  if (env("RANK") || env("WORLD_SIZE")) {
    Launch l;
    l.launcher = "torchrun";
    const std::string why = std::string(env("RANK") ? "RANK" : "WORLD_SIZE") + " is";
    l.world = need_int("WORLD_SIZE", 1, kMaxRanks, l.launcher, why);
    l.rank = need_int("RANK", 0, l.world - 1, l.launcher, why);
    l.local_rank = l.world == 1 ? optional_int({"LOCAL_RANK"}, 0, kMaxRanks, 0, l.launcher)
                                : need_int("LOCAL_RANK", 0, l.world - 1, l.launcher, why);
    read_master(l);
    return l;
  }
  return Launch{};
}

int local_cuda_device(const Launch& l, int device_count) {
  if (l.local_rank < device_count) return l.local_rank;
  if (device_count == 1) return 0;
  throw Error("local rank " + std::to_string(l.local_rank) + " (" + l.launcher +
              " launch) has no GPU of its own: this process sees " + std::to_string(device_count) +
              " (one process per GPU: at most " + std::to_string(device_count) +
              " ranks per node)");
}

std::shared_ptr<Comm> world_comm(const Launch& l, Device device, const std::string& backend) {
  const std::string procs = std::to_string(l.world) + " processes";
  std::string b = backend;
  if (b == "auto") b = l.world == 1 ? "none" : device.is_cuda() ? "nccl" : "mpi";

  if (b == "none") {
    if (l.world > 1)
      throw Error("communication backend \"none\" runs one process, this " + l.launcher +
                  " launch has " + procs);
    return single_process_comm();
  }

  if (b == "mpi") {
    if (!mpi_available())
      throw Error(
          "communication backend \"mpi\": this build has no MPI (install "
          "libopenmpi-dev and rebuild)");
    if (l.world > 1 && l.launcher != "mpi")
      throw Error("a multi-process run on the " + device.str() + " needs MPI, but these " + procs +
                  " were started by " + l.launcher + ": start them with mpirun -np " +
                  std::to_string(l.world) + " (or srun --mpi=pmix) instead");
    std::shared_ptr<Comm> c = mpi_world_comm();
    if (l.launcher == "mpi" && (c->size() != l.world || c->rank() != l.rank))
      throw Error("MPI says rank " + std::to_string(c->rank()) + " of " +
                  std::to_string(c->size()) + ", the environment rank " + std::to_string(l.rank) +
                  " of " + std::to_string(l.world));
    return c;
  }

  if (b == "nccl") {
    if (!device.is_cuda())
      throw Error("communication backend \"nccl\" needs a CUDA device, this run is on the " +
                  device.str());
    if (!nccl_available())
      throw Error(
          "communication backend \"nccl\": this build has no NCCL (install libnccl-dev "
          "and rebuild with CUDA)");
    std::vector<std::byte> id(kNcclUniqueIdBytes);
    if (l.world == 1) {
      id = nccl_unique_id();
    } else if (l.launcher == "mpi") {
      if (!mpi_available())
        throw Error("these " + procs +
                    " were started by mpirun, but this build has no MPI to share NCCL's unique "
                    "id: start them with scripts/launch.sh (torchrun-style variables) instead");
      auto m = mpi_world_comm();
      if (m->size() != l.world || m->rank() != l.rank)
        throw Error("MPI says rank " + std::to_string(m->rank()) + " of " +
                    std::to_string(m->size()) + ", the environment rank " + std::to_string(l.rank) +
                    " of " + std::to_string(l.world));
      if (l.rank == 0) id = nccl_unique_id();
      m->broadcast_bytes(id, 0);
    } else {
      if (l.master_addr.empty() || l.master_port == 0)
        throw Error(std::string(l.master_addr.empty() ? "MASTER_ADDR" : "MASTER_PORT") +
                    " is not set: a " + l.launcher + " launch of " + procs +
                    " meets at MASTER_ADDR:MASTER_PORT (rank 0's host and a free port)");
      if (l.rank == 0) id = nccl_unique_id();
      id = tcp_store_share(l.master_addr, l.master_port, l.rank, l.world, id, comm_timeout());
      if (id.size() != kNcclUniqueIdBytes)
        throw Error("the TCP store at " + l.master_addr + ":" + std::to_string(l.master_port) +
                    " sent " + std::to_string(id.size()) + " bytes, not an NCCL unique id");
    }
    return nccl_comm(id, l.rank, l.world, device);
  }

  throw Error("unknown communication backend \"" + backend + "\" (auto, nccl, mpi or none)");
}

}  // namespace vpmoe
