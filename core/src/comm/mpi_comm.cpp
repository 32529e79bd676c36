// MPI behind vpmoe::Comm for CPU tensors (built when CMake finds MPI; OpenMPI on Debian).
// Every collective is the non-blocking MPI call, completed by polling MPI_Test against
// comm_timeout(), so a dead or stalled peer becomes an error naming the rank, the group and the
// operation instead of a hang. Errors come back as codes (MPI_ERRORS_RETURN), not aborts.
#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "vpmoe/comm.h"
#include "vpmoe/error.h"

#if VPMOE_HAS_MPI
#include <mpi.h>
#endif

namespace vpmoe {

#if VPMOE_HAS_MPI
namespace {

void check(int rc, const std::string& what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error("MPI: " + what + " failed: " + std::string(msg, std::size_t(len)));
}

// Initialises MPI once; finalises it at exit when this process was the one to initialise it.
struct MpiSession {
  bool owned = false;
  MpiSession() {
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owned = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  ~MpiSession() {
    int done = 0;
    MPI_Finalized(&done);
    if (owned && !done) MPI_Finalize();
  }
};

MPI_Datatype sum_type(const Tensor& t, const char* op) {
  switch (t.dtype()) {
    case DType::f32:
      return MPI_FLOAT;
    case DType::i32:
      return MPI_INT32_T;
    case DType::i64:
      return MPI_INT64_T;
    default:
      throw Error(std::string("MPI ") + op + ": sums of " + t.str() +
                  " are not supported (f32, i32, i64)");
  }
}

void need_cpu(const Tensor& t, const char* op) {
  if (!t.device().is_cpu())
    throw Error(std::string("MPI ") + op + ": " + t.str() +
                " is not on the CPU (CUDA tensors go through NCCL)");
}

// A contiguous type of `bytes` bytes, so counts stay in int for any size.
struct Unit {
  MPI_Datatype type = MPI_BYTE;
  explicit Unit(std::size_t bytes) {
    if (bytes > 1) {
      check(MPI_Type_contiguous(int(bytes), MPI_BYTE, &type), "MPI_Type_contiguous");
      MPI_Type_commit(&type);
    }
  }
  ~Unit() {
    if (type != MPI_BYTE) MPI_Type_free(&type);
  }
  Unit(const Unit&) = delete;
  Unit& operator=(const Unit&) = delete;
};

int as_int(std::int64_t n, const std::string& what) {
  if (n < 0 || n > std::numeric_limits<int>::max())
    throw Error("MPI " + what + ": count " + std::to_string(n) + " does not fit an int");
  return int(n);
}

class MpiComm;

// A started request; wait() polls it against the timeout. Holds its tensors until then.
class MpiWork final : public CommWork {
 public:
  MpiWork(const MpiComm* comm, std::string op, MPI_Request req, std::vector<Tensor> keep)
      : comm_(comm), op_(std::move(op)), req_(req), keep_(std::move(keep)) {}
  ~MpiWork() override {
    if (req_ == MPI_REQUEST_NULL) return;
    // Unwinding after a failure: the run is ending, so do not wait another timeout per
    // operation still in flight.
    if (std::uncaught_exceptions() > 0) {
      abandon();
      return;
    }
    try {
      wait();
    } catch (...) {
    }
  }
  void wait() override;

 private:
  // A request given up on: MPI may still write into its buffers, so they are never freed.
  void abandon() {
    static std::vector<Tensor> kept;
    for (Tensor& t : keep_) kept.push_back(std::move(t));
    keep_.clear();
    req_ = MPI_REQUEST_NULL;
  }

  const MpiComm* comm_;
  std::string op_;
  MPI_Request req_;
  std::vector<Tensor> keep_;
};

class MpiComm final : public Comm {
 public:
  MpiComm(MPI_Comm comm, std::string name, bool owned)
      : comm_(comm), name_(std::move(name)), owned_(owned) {
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_);
  }
  ~MpiComm() override {
    int done = 0;
    MPI_Finalized(&done);
    if (owned_ && !done) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return name_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce_sum(std::span<std::int64_t> v) override {
    host_sum(v.data(), v.size(), MPI_INT64_T, sizeof(std::int64_t));
  }
  void all_reduce_sum(std::span<double> v) override {
    host_sum(v.data(), v.size(), MPI_DOUBLE, sizeof(double));
  }
  void all_reduce_sum(std::span<float> v) override {
    host_sum(v.data(), v.size(), MPI_FLOAT, sizeof(float));
  }

  CommHandle all_reduce_sum(const Tensor& t, bool async) override {
    need_cpu(t, "all_reduce");
    const MPI_Datatype type = sum_type(t, "all_reduce");
    // In pieces of at most 2^30 elements: MPI counts are int.
    constexpr std::int64_t kPiece = std::int64_t(1) << 30;
    const std::size_t elem = dtype_size(t.dtype());
    std::vector<CommHandle> pieces;
    for (std::int64_t at = 0; at < t.numel(); at += kPiece) {
      MPI_Request r;
      check(MPI_Iallreduce(MPI_IN_PLACE, static_cast<char*>(t.data()) + std::size_t(at) * elem,
                           int(std::min(kPiece, t.numel() - at)), type, MPI_SUM, comm_, &r),
            what("all_reduce"));
      pieces.push_back(std::make_shared<MpiWork>(this, "all_reduce", r, std::vector<Tensor>{t}));
    }
    return finish(std::move(pieces), async);
  }

  CommHandle reduce_scatter_sum(const Tensor& in, const Tensor& out, bool async) override {
    need_cpu(in, "reduce_scatter"), need_cpu(out, "reduce_scatter");
    if (in.dtype() != out.dtype() || in.numel() != out.numel() * size_)
      throw Error("MPI reduce_scatter on " + name_ + ": " + in.str() + " -> " + out.str() +
                  " (expected in = size x out elements)");
    MPI_Request r;
    check(MPI_Ireduce_scatter_block(in.data(), out.data(), as_int(out.numel(), "reduce_scatter"),
                                    sum_type(in, "reduce_scatter"), MPI_SUM, comm_, &r),
          what("reduce_scatter"));
    return finish(
        {std::make_shared<MpiWork>(this, "reduce_scatter", r, std::vector<Tensor>{in, out})},
        async);
  }

  CommHandle all_gather(const Tensor& in, const Tensor& out, bool async) override {
    need_cpu(in, "all_gather"), need_cpu(out, "all_gather");
    if (in.dtype() != out.dtype() || out.numel() != in.numel() * size_)
      throw Error("MPI all_gather on " + name_ + ": " + in.str() + " -> " + out.str() +
                  " (expected out = size x in elements)");
    // A pending operation keeps its datatype alive after MPI_Type_free (the MPI standard).
    Unit unit(dtype_size(in.dtype()));
    MPI_Request r;
    check(MPI_Iallgather(in.data(), as_int(in.numel(), "all_gather"), unit.type, out.data(),
                         as_int(in.numel(), "all_gather"), unit.type, comm_, &r),
          what("all_gather"));
    return finish({std::make_shared<MpiWork>(this, "all_gather", r, std::vector<Tensor>{in, out})},
                  async);
  }

  void all_to_all(const Tensor& in, std::span<const std::int64_t> send_rows, const Tensor& out,
                  std::span<const std::int64_t> recv_rows) override {
    need_cpu(in, "all_to_all"), need_cpu(out, "all_to_all");
    if (int(send_rows.size()) != size_ || int(recv_rows.size()) != size_)
      throw Error("MPI all_to_all on " + name_ + ": counts for " +
                  std::to_string(send_rows.size()) + "/" + std::to_string(recv_rows.size()) +
                  " ranks, the group has " + std::to_string(size_));
    std::size_t row = dtype_size(in.dtype());
    for (int d = 1; d < in.ndim(); ++d) row *= std::size_t(in.size(d));
    const std::size_t n = static_cast<std::size_t>(size_);
    std::vector<int> sc(n), sd(n), rc(n), rd(n);
    std::int64_t s_at = 0, r_at = 0;
    for (std::size_t r = 0; r < sc.size(); ++r) {
      sc[r] = as_int(send_rows[r], "all_to_all"), sd[r] = as_int(s_at, "all_to_all");
      rc[r] = as_int(recv_rows[r], "all_to_all"), rd[r] = as_int(r_at, "all_to_all");
      s_at += send_rows[r], r_at += recv_rows[r];
    }
    if (s_at > in.size(0) || r_at > out.size(0))
      throw Error("MPI all_to_all on " + name_ + ": " + std::to_string(s_at) + " rows from " +
                  in.str() + ", " + std::to_string(r_at) + " into " + out.str());
    Unit unit(row);
    MPI_Request r;
    check(MPI_Ialltoallv(in.data(), sc.data(), sd.data(), unit.type, out.data(), rc.data(),
                         rd.data(), unit.type, comm_, &r),
          what("all_to_all"));
    MpiWork(this, "all_to_all", r, {in, out}).wait();
  }

  void broadcast(const Tensor& t, int root) override {
    need_cpu(t, "broadcast");
    broadcast_bytes(std::span<std::byte>(static_cast<std::byte*>(t.data()), t.nbytes()), root);
  }

  void broadcast_bytes(std::span<std::byte> bytes, int root) override {
    constexpr std::size_t kPiece = std::size_t(1) << 30;
    for (std::size_t at = 0; at < bytes.size() || at == 0; at += kPiece) {
      MPI_Request r;
      check(MPI_Ibcast(bytes.data() + at, int(std::min(kPiece, bytes.size() - at)), MPI_BYTE, root,
                       comm_, &r),
            what("broadcast"));
      MpiWork(this, "broadcast", r, {}).wait();
      if (bytes.empty()) break;
    }
  }

  void barrier() override {
    MPI_Request r;
    check(MPI_Ibarrier(comm_, &r), what("barrier"));
    MpiWork(this, "barrier", r, {}).wait();
  }

  std::unique_ptr<Comm> split(int color, int key, const std::string& name) override {
    MPI_Comm sub;
    check(MPI_Comm_split(comm_, color, key, &sub), what("split into " + name));
    MPI_Comm_set_errhandler(sub, MPI_ERRORS_RETURN);
    return std::make_unique<MpiComm>(sub, name, true);
  }

  double take_wait_seconds() override { return std::exchange(wait_s_, 0.0); }
  void add_wait(double s) const { wait_s_ += s; }

  std::string what(const std::string& op) const {
    return op + " on group " + name_ + " (rank " + std::to_string(world_rank_) + ")";
  }

 private:
  void host_sum(void* data, std::size_t n, MPI_Datatype type, std::size_t elem) {
    constexpr std::size_t kPiece = std::size_t(1) << 30;
    for (std::size_t at = 0; at < n; at += kPiece) {
      MPI_Request r;
      check(MPI_Iallreduce(MPI_IN_PLACE, static_cast<char*>(data) + at * elem,
                           int(std::min(kPiece, n - at)), type, MPI_SUM, comm_, &r),
            what("all_reduce"));
      MpiWork(this, "all_reduce", r, {}).wait();
    }
  }

  // Several pieces behind one handle.
  struct Group final : CommWork {
    std::vector<CommHandle> pieces;
    void wait() override {
      for (auto& p : pieces) p->wait();
      pieces.clear();
    }
  };
  static CommHandle finish(std::vector<CommHandle> pieces, bool async) {
    auto g = std::make_shared<Group>();
    g->pieces = std::move(pieces);
    if (async) return g;
    g->wait();
    return nullptr;
  }

  MPI_Comm comm_;
  std::string name_;
  bool owned_;
  int rank_ = 0, size_ = 1, world_rank_ = 0;
  mutable double wait_s_ = 0;
};

void MpiWork::wait() {
  if (req_ == MPI_REQUEST_NULL) return;
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto limit = std::chrono::duration<double>(comm_timeout());
  for (int spins = 0;; ++spins) {
    int done = 0;
    MPI_Status st;
    const int rc = MPI_Test(&req_, &done, &st);
    if (rc != MPI_SUCCESS) {
      req_ = MPI_REQUEST_NULL;
      check(rc, comm_->what(op_));
    }
    if (done) break;
    if (clock::now() - start > limit) {
      abandon();
      throw Error("timed out after " + std::to_string(int(comm_timeout())) + " s waiting for " +
                  comm_->what(op_) + ": another rank died or stalled ([parallel] timeout_s)");
    }
    if (spins > 64) std::this_thread::sleep_for(std::chrono::microseconds(spins > 4096 ? 500 : 20));
  }
  req_ = MPI_REQUEST_NULL;
  keep_.clear();
  comm_->add_wait(std::chrono::duration<double>(clock::now() - start).count());
}

}  // namespace

bool mpi_available() {
  return true;
}
void abort_parallel_run(int code) {
  int ready = 0, done = 0, size = 1;
  MPI_Initialized(&ready);
  MPI_Finalized(&done);
  if (!ready || done) return;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}
std::unique_ptr<Comm> mpi_world_comm() {
  static MpiSession session;
  return std::make_unique<MpiComm>(MPI_COMM_WORLD, "world", false);
}
#else
bool mpi_available() {
  return false;
}
void abort_parallel_run(int) {}
std::unique_ptr<Comm> mpi_world_comm() {
  throw Error("mpi_world_comm: this build has no MPI (install libopenmpi-dev and reconfigure)");
}
#endif

}  // namespace vpmoe
