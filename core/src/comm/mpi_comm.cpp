// MPI_COMM_WORLD behind vpmoe::Comm (built when CMake finds MPI; OpenMPI on Debian).
#include <algorithm>
#include <string>

#include "vpmoe/comm.h"
#include "vpmoe/error.h"

#if VPMOE_HAS_MPI
#include <mpi.h>
#endif

namespace vpmoe {

#if VPMOE_HAS_MPI
namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(std::string("MPI: ") + what + " failed: " + std::string(msg, std::size_t(len)));
}

// Initialises MPI once; finalises it at exit when this process was the one to initialise it.
struct MpiSession {
  bool owned = false;
  MpiSession() {
    int ready = 0;
    MPI_Initialized(&ready);
    if (ready) return;
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owned = true;
  }
  ~MpiSession() {
    int done = 0;
    MPI_Finalized(&done);
    if (owned && !done) MPI_Finalize();
  }
};

class MpiComm final : public Comm {
 public:
  MpiComm() {
    static MpiSession session;
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(std::span<std::int64_t> v) override {
    static_assert(sizeof(std::int64_t) == sizeof(long long));
    check(MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_LONG_LONG, MPI_SUM,
                        MPI_COMM_WORLD),
          "MPI_Allreduce");
  }
  void all_reduce_sum(std::span<double> v) override {
    check(MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }
  void all_reduce_sum(std::span<float> v) override {
    // In pieces: MPI counts are int.
    constexpr std::size_t kPiece = std::size_t(1) << 30;
    for (std::size_t at = 0; at < v.size(); at += kPiece)
      check(MPI_Allreduce(MPI_IN_PLACE, v.data() + at, int(std::min(kPiece, v.size() - at)),
                          MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
  }

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace

bool mpi_available() {
  return true;
}
std::unique_ptr<Comm> mpi_world_comm() {
  return std::make_unique<MpiComm>();
}
#else
bool mpi_available() {
  return false;
}
std::unique_ptr<Comm> mpi_world_comm() {
  throw Error("mpi_world_comm: this build has no MPI (install libopenmpi-dev and reconfigure)");
}
#endif

}  // namespace vpmoe
