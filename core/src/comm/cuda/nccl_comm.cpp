// NCCL behind vpmoe::Comm for CUDA tensors. Each communicator owns a stream: an operation
// waits there for vpmoe's current stream (an event), runs, and records a done event that the
// current stream waits on (sync) or that the handle's wait() hands over (async). No host wait
// except for host spans, which poll their event against comm_timeout().
//
// Faults never hang: one watchdog thread per process polls every communicator's oldest
// unfinished operation and ncclCommGetAsyncError; an operation (or a host-blocking NCCL call:
// init, split, grouped send/recv, destroy) older than comm_timeout(), or an asynchronous
// error, aborts the communicator, logs which rank, group and operation, and exits non-zero.
#include "comm/nccl_backend.h"

#if VPMOE_HAS_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "device/cuda/cuda_util.h"
#include "vpmoe/error.h"
#include "vpmoe/log.h"

namespace vpmoe {
namespace {

static_assert(NCCL_UNIQUE_ID_BYTES == kNcclUniqueIdBytes);
using clock = std::chrono::steady_clock;
using cuda_impl::DeviceGuard;

// NVLink multicast (NVLS) can take a shared host's GPUs out of service; it stays off unless
// the user turns it on explicitly (NCCL reads the variable when it initialises).
void multicast_off_by_default() {
  setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
}

std::string seconds_str(double s) {
  return std::to_string(static_cast<long long>(s + 0.5));
}

// Ends the process. The first fault logs and aborts its communicator (which may itself block
// on a broken peer, so the exit does not wait long for it); a concurrent second one waits.
[[noreturn]] void fault(ncclComm_t comm, const std::string& message) {
  static std::atomic<bool> once{false};
  if (once.exchange(true))
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  log::error(message);
  log::flush();
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(10));
    std::_Exit(1);
  }).detach();
  if (comm) ncclCommAbort(comm);
  std::_Exit(1);
}

struct Event {
  cudaEvent_t e = nullptr;
  Event() { VPMOE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming)); }
  ~Event() {
    if (e) cudaEventDestroy(e);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};
using EventPtr = std::shared_ptr<Event>;

// How long a stream stalls on NCCL's results: timing events around each cudaStreamWaitEvent,
// read once both have passed; plus the host's own blocking waits.
class StallLog {
 public:
  ~StallLog() {
    for (auto& [a, b] : pairs_) cudaEventDestroy(a), cudaEventDestroy(b);
  }
  void wait_on(cudaStream_t s, cudaEvent_t done) {
    cudaEvent_t a = nullptr, b = nullptr;
    VPMOE_CUDA_CHECK(cudaEventCreate(&a));
    VPMOE_CUDA_CHECK(cudaEventCreate(&b));
    VPMOE_CUDA_CHECK(cudaEventRecord(a, s));
    VPMOE_CUDA_CHECK(cudaStreamWaitEvent(s, done, 0));
    VPMOE_CUDA_CHECK(cudaEventRecord(b, s));
    std::lock_guard lk(mu_);
    pairs_.emplace_back(a, b);
  }
  void add_host(double s) {
    std::lock_guard lk(mu_);
    host_s_ += s;
  }
  double take() {
    std::lock_guard lk(mu_);
    double t = std::exchange(host_s_, 0.0);
    std::vector<std::pair<cudaEvent_t, cudaEvent_t>> open;
    for (auto& [a, b] : pairs_) {
      float ms = 0;
      if (cudaEventQuery(b) != cudaSuccess || cudaEventElapsedTime(&ms, a, b) != cudaSuccess) {
        open.emplace_back(a, b);
        continue;
      }
      t += double(ms) / 1e3;
      cudaEventDestroy(a), cudaEventDestroy(b);
    }
    pairs_ = std::move(open);
    return t;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> pairs_;
  double host_s_ = 0;
};

class NcclComm;

// One thread for every communicator of the process; lives while any communicator does.
class Watchdog {
 public:
  static std::shared_ptr<Watchdog> get() {
    static std::mutex m;
    static std::weak_ptr<Watchdog> w;
    std::lock_guard g(m);
    std::shared_ptr<Watchdog> s = w.lock();
    if (!s) w = s = std::shared_ptr<Watchdog>(new Watchdog);
    return s;
  }
  ~Watchdog() {
    {
      std::lock_guard g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void add(NcclComm* c) {
    std::lock_guard g(mu_);
    comms_.push_back(c);
  }
  void remove(NcclComm* c) {
    std::lock_guard g(mu_);
    comms_.erase(std::remove(comms_.begin(), comms_.end(), c), comms_.end());
  }

 private:
  Watchdog() : thread_([this] { loop(); }) {}
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<NcclComm*> comms_;
  std::thread thread_;  // last: starts once the rest exists
};

// An asynchronous operation: wait() orders the current stream after it.
class NcclWork final : public CommWork {
 public:
  NcclWork(Device d, EventPtr done, std::vector<Tensor> keep, std::shared_ptr<StallLog> stalls)
      : device_(d), done_(std::move(done)), keep_(std::move(keep)), stalls_(std::move(stalls)) {}
  ~NcclWork() override {
    try {
      wait();
    } catch (...) {
    }
  }
  void wait() override {
    if (!done_) return;
    DeviceGuard g(device_.index);
    stalls_->wait_on(static_cast<cudaStream_t>(current_stream(device_)), done_->e);
    done_.reset();
    keep_.clear();  // frees after this point are ordered after the operation
  }

 private:
  Device device_;
  EventPtr done_;
  std::vector<Tensor> keep_;
  std::shared_ptr<StallLog> stalls_;
};

ncclDataType_t sum_type(const Tensor& t, const std::string& what) {
  switch (t.dtype()) {
    case DType::f32:
      return ncclFloat32;
    case DType::bf16:
      return ncclBfloat16;
    case DType::i32:
      return ncclInt32;
    case DType::i64:
      return ncclInt64;
    default:
      throw Error("NCCL " + what + ": sums of " + t.str() +
                  " are not supported (f32, bf16, i32, i64)");
  }
}

class NcclComm final : public Comm {
 public:
  NcclComm(Device d, std::string name, int world_rank)
      : device_(d), name_(std::move(name)), world_rank_(world_rank) {
    DeviceGuard g(d.index);
    VPMOE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    VPMOE_CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    watchdog_ = Watchdog::get();
    watchdog_->add(this);
  }

  ~NcclComm() override {
    if (comm_) {
      try {
        DeviceGuard g(device_.index);
        Event last;
        VPMOE_CUDA_CHECK(cudaEventRecord(last.e, stream_));
        host_wait(last, "shutdown");
        if (dbuf_) cudaFreeAsync(dbuf_, stream_);
        if (hbuf_) cudaFreeHost(hbuf_);
        {
          std::lock_guard lk(mu_);  // the watchdog may be asking for comm_'s errors
          live_ = false;
        }
        Busy b(this, "destroy");
        ncclCommDestroy(comm_);
      } catch (...) {
      }
    }
    watchdog_->remove(this);
    cudaEventDestroy(ready_);
    cudaStreamDestroy(stream_);
  }

  void init(std::span<const std::byte> id, int rank, int size) {
    if (id.size() != sizeof(ncclUniqueId))
      throw Error("NCCL: a unique id has " + std::to_string(sizeof(ncclUniqueId)) +
                  " bytes, found " + std::to_string(id.size()));
    ncclUniqueId uid;
    std::memcpy(uid.internal, id.data(), sizeof uid.internal);
    rank_ = rank, size_ = size;  // for the messages until NCCL says so
    ncclConfig_t cfg = config();
    ncclComm_t c = nullptr;
    ncclResult_t r;
    {
      DeviceGuard g(device_.index);
      Busy b(this, "init");
      r = ncclCommInitRankConfig(&c, size, uid, rank, &cfg);
    }
    check(r, "init");
    adopt(c);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return name_; }
  std::string backend() const override { return "nccl"; }
  double take_wait_seconds() override { return stalls_->take(); }

  void all_reduce_sum(std::span<std::int64_t> v) override {
    host_all_reduce(v.data(), v.size_bytes(), v.size(), ncclInt64, "all_reduce");
  }
  void all_reduce_sum(std::span<double> v) override {
    host_all_reduce(v.data(), v.size_bytes(), v.size(), ncclFloat64, "all_reduce");
  }
  void all_reduce_sum(std::span<float> v) override {
    host_all_reduce(v.data(), v.size_bytes(), v.size(), ncclFloat32, "all_reduce");
  }

  CommHandle all_reduce_sum(const Tensor& t, bool async) override {
    need(t, "all_reduce");
    const ncclDataType_t type = sum_type(t, what("all_reduce"));
    const std::size_t n = std::size_t(t.numel());
    EventPtr done = launch("all_reduce", true, [&] {
      return n ? ncclAllReduce(t.data(), t.data(), n, type, ncclSum, comm_, stream_) : ncclSuccess;
    });
    return finish(std::move(done), async, {t});
  }

  CommHandle reduce_scatter_sum(const Tensor& in, const Tensor& out, bool async) override {
    need(in, "reduce_scatter"), need(out, "reduce_scatter");
    if (in.dtype() != out.dtype() || in.numel() != out.numel() * size_)
      throw Error(what("reduce_scatter") + ": " + in.str() + " -> " + out.str() +
                  " (expected in = size x out elements)");
    const ncclDataType_t type = sum_type(in, what("reduce_scatter"));
    const std::size_t n = std::size_t(out.numel());
    EventPtr done = launch("reduce_scatter", true, [&] {
      return n ? ncclReduceScatter(in.data(), out.data(), n, type, ncclSum, comm_, stream_)
               : ncclSuccess;
    });
    return finish(std::move(done), async, {in, out});
  }

  CommHandle all_gather(const Tensor& in, const Tensor& out, bool async) override {
    need(in, "all_gather"), need(out, "all_gather");
    if (in.dtype() != out.dtype() || out.numel() != in.numel() * size_)
      throw Error(what("all_gather") + ": " + in.str() + " -> " + out.str() +
                  " (expected out = size x in elements)");
    // Bytes: gathering needs no arithmetic, so every dtype goes.
    const std::size_t n = in.nbytes();
    EventPtr done = launch("all_gather", true, [&] {
      return n ? ncclAllGather(in.data(), out.data(), n, ncclUint8, comm_, stream_) : ncclSuccess;
    });
    return finish(std::move(done), async, {in, out});
  }

  void all_to_all(const Tensor& in, std::span<const std::int64_t> send_rows, const Tensor& out,
                  std::span<const std::int64_t> recv_rows) override {
    need(in, "all_to_all"), need(out, "all_to_all");
    if (int(send_rows.size()) != size_ || int(recv_rows.size()) != size_)
      throw Error(what("all_to_all") + ": counts for " + std::to_string(send_rows.size()) + "/" +
                  std::to_string(recv_rows.size()) + " ranks, the group has " +
                  std::to_string(size_));
    const std::size_t row = row_bytes(in);
    if (in.dtype() != out.dtype() || row != row_bytes(out))
      throw Error(what("all_to_all") + ": rows of " + in.str() + " and " + out.str() + " differ");
    const std::size_t n = std::size_t(size_);
    std::vector<std::size_t> s_at(n), r_at(n);
    std::int64_t s = 0, r = 0;
    for (std::size_t p = 0; p < n; ++p) {
      if (send_rows[p] < 0 || recv_rows[p] < 0)
        throw Error(what("all_to_all") + ": negative row count");
      s_at[p] = std::size_t(s) * row, r_at[p] = std::size_t(r) * row;
      s += send_rows[p], r += recv_rows[p];
    }
    const std::size_t me = std::size_t(rank_);
    if (s > in.size(0) || r > out.size(0) || send_rows[me] != recv_rows[me])
      throw Error(what("all_to_all") + ": " + std::to_string(s) + " rows from " + in.str() + ", " +
                  std::to_string(r) + " into " + out.str() + ", " + std::to_string(send_rows[me]) +
                  " to itself but " + std::to_string(recv_rows[me]) + " from itself");
    const char* src = static_cast<const char*>(in.data());
    char* dst = static_cast<char*>(out.data());
    EventPtr done = launch("all_to_all", true, [&] {
      // This rank's own rows are a copy; the rest are one grouped send/recv per peer.
      if (send_rows[me] > 0)
        VPMOE_CUDA_CHECK(cudaMemcpyAsync(dst + r_at[me], src + s_at[me],
                                         std::size_t(send_rows[me]) * row, cudaMemcpyDeviceToDevice,
                                         stream_));
      ncclResult_t res = ncclGroupStart();
      if (res != ncclSuccess) return res;
      for (std::size_t p = 0; p < n && res == ncclSuccess; ++p) {
        if (p == me) continue;
        if (send_rows[p] > 0)
          res = ncclSend(src + s_at[p], std::size_t(send_rows[p]) * row, ncclUint8, int(p), comm_,
                         stream_);
        if (res == ncclSuccess && recv_rows[p] > 0)
          res = ncclRecv(dst + r_at[p], std::size_t(recv_rows[p]) * row, ncclUint8, int(p), comm_,
                         stream_);
      }
      const ncclResult_t end = ncclGroupEnd();
      return res != ncclSuccess ? res : end;
    });
    order_after(*done);
  }

  void broadcast(const Tensor& t, int root) override {
    need(t, "broadcast");
    need_root(root, "broadcast");
    const std::size_t n = t.nbytes();
    EventPtr done = launch("broadcast", true, [&] {
      return n ? ncclBroadcast(t.data(), t.data(), n, ncclUint8, root, comm_, stream_)
               : ncclSuccess;
    });
    order_after(*done);
  }

  void barrier() override {
    std::int64_t zero = 0;
    host_all_reduce(&zero, sizeof zero, 1, ncclInt64, "barrier");
  }

  void broadcast_bytes(std::span<std::byte> bytes, int root) override {
    need_root(root, "broadcast");
    if (bytes.empty()) return;
    const std::size_t n = bytes.size();
    DeviceGuard g(device_.index);
    staging(n);
    if (rank_ == root) std::memcpy(hbuf_, bytes.data(), n);
    EventPtr done = launch("broadcast", false, [&] {
      VPMOE_CUDA_CHECK(cudaMemcpyAsync(dbuf_, hbuf_, n, cudaMemcpyHostToDevice, stream_));
      const ncclResult_t r = ncclBroadcast(dbuf_, dbuf_, n, ncclUint8, root, comm_, stream_);
      VPMOE_CUDA_CHECK(cudaMemcpyAsync(hbuf_, dbuf_, n, cudaMemcpyDeviceToHost, stream_));
      return r;
    });
    host_wait(*done, "broadcast");
    std::memcpy(bytes.data(), hbuf_, n);
  }

  std::unique_ptr<Comm> split(int color, int key, const std::string& name) override {
    if (color < 0) throw Error(what("split into " + name) + ": colors are non-negative");
    auto child = std::make_unique<NcclComm>(device_, name, world_rank_);
    ncclConfig_t cfg = child->config();
    ncclComm_t sub = nullptr;
    ncclResult_t r;
    {
      DeviceGuard g(device_.index);
      Busy b(this, "split");
      r = ncclCommSplit(comm_, color, key, &sub, &cfg);
    }
    check(r, "split into " + name);
    child->adopt(sub);
    return child;
  }

  // Watchdog tick (on its thread): never returns on a fault.
  void watch() {
    std::string bad;
    const double limit = comm_timeout();
    {
      std::lock_guard g(mu_);
      cudaSetDevice(device_.index);
      // Operations finish in order on the one stream: only the oldest unfinished one matters.
      while (!pending_.empty() && bad.empty()) {
        const Pending& p = pending_.front();
        const cudaError_t e = cudaEventQuery(p.done->e);
        if (e == cudaSuccess) {
          pending_.pop_front();
        } else if (e == cudaErrorCudartUnloading) {
          return;  // the process is exiting
        } else if (e != cudaErrorNotReady) {
          bad = cuda_fault(e, p.op);
        } else {
          if (seconds_since(p.start) > limit) bad = timeout_fault(p.op);
          break;
        }
      }
      if (bad.empty() && busy_ && seconds_since(busy_since_) > limit) bad = timeout_fault(busy_);
    }
    if (bad.empty()) bad = async_fault();
    if (!bad.empty()) fault(live_ ? comm_ : nullptr, bad);
  }

 private:
  struct Pending {
    std::string op;
    EventPtr done;
    clock::time_point start;
  };
  // A host-blocking NCCL call in progress, for the watchdog.
  struct Busy {
    NcclComm* c;
    Busy(NcclComm* comm, const char* op) : c(comm) {
      std::lock_guard g(c->mu_);
      c->busy_ = op, c->busy_since_ = clock::now();
    }
    ~Busy() {
      std::lock_guard g(c->mu_);
      c->busy_ = nullptr;
    }
  };

  static double seconds_since(clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
  }

  ncclConfig_t config() const {
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 1;
    cfg.commName = name_.c_str();
    return cfg;
  }

  void adopt(ncclComm_t c) {
    comm_ = c;
    check(ncclCommUserRank(c, &rank_), "init");
    check(ncclCommCount(c, &size_), "init");
    live_ = true;
  }

  std::string what(const std::string& op) const {
    return "NCCL " + op + " on group " + name_ + " (world rank " + std::to_string(world_rank_) +
           ", rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ")";
  }
  std::string timeout_fault(const std::string& op) const {
    return what(op) + " did not finish within " + seconds_str(comm_timeout()) +
           " s: another rank died or stalled ([parallel] timeout_s); aborting";
  }
  std::string cuda_fault(cudaError_t e, const std::string& op) const {
    return what(op) + ": CUDA error " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
           "); aborting";
  }
  std::string async_fault() const {
    std::lock_guard g(mu_);  // keeps the destructor from destroying comm_ meanwhile
    if (!live_) return {};
    ncclResult_t r = ncclSuccess;
    if (ncclCommGetAsyncError(comm_, &r) != ncclSuccess || r == ncclSuccess || r == ncclInProgress)
      return {};
    const std::string op = !pending_.empty() ? pending_.front().op : busy_ ? busy_ : "an operation";
    return what(op) + ": " + ncclGetErrorString(r) + ": " + ncclGetLastError(comm_) +
           " (a peer died or the network failed); aborting";
  }

  // A call's result: misuse is an exception; anything else leaves the communicator broken.
  void check(ncclResult_t r, const std::string& op) {
    if (r == ncclSuccess) return;
    const std::string msg = what(op) + ": " + ncclGetErrorString(r) + ": " +
                            (comm_ ? ncclGetLastError(comm_) : ncclGetLastError(nullptr));
    if (r == ncclInvalidArgument || r == ncclInvalidUsage) throw Error(msg);
    fault(live_ ? comm_ : nullptr, msg + "; aborting");
  }

  void need(const Tensor& t, const char* op) const {
    if (!t.defined() || t.device() != device_)
      throw Error(what(op) + ": " + (t.defined() ? t.str() : std::string("an undefined tensor")) +
                  " is not on " + device_.str() + " (CPU tensors go through MPI)");
  }
  void need_root(int root, const char* op) const {
    if (root < 0 || root >= size_)
      throw Error(what(op) + ": root " + std::to_string(root) + " of " + std::to_string(size_));
  }
  static std::size_t row_bytes(const Tensor& t) {
    std::size_t row = dtype_size(t.dtype());
    for (int d = 1; d < t.ndim(); ++d) row *= std::size_t(t.size(d));
    return row;
  }

  // Runs calls (the NCCL enqueue) on the comm stream, after the current stream's work when
  // after_current; returns the done event, which the watchdog tracks.
  EventPtr launch(const char* op, bool after_current, const std::function<ncclResult_t()>& calls) {
    DeviceGuard g(device_.index);
    if (after_current) {
      VPMOE_CUDA_CHECK(cudaEventRecord(ready_, static_cast<cudaStream_t>(current_stream(device_))));
      VPMOE_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
    }
    ncclResult_t r;
    {
      Busy b(this, op);  // grouped send/recv may block the host while connecting
      r = calls();
    }
    check(r, op);
    auto done = std::make_shared<Event>();
    VPMOE_CUDA_CHECK(cudaEventRecord(done->e, stream_));
    std::lock_guard lk(mu_);
    pending_.push_back({op, done, clock::now()});
    return done;
  }

  void order_after(const Event& done) {
    DeviceGuard g(device_.index);
    stalls_->wait_on(static_cast<cudaStream_t>(current_stream(device_)), done.e);
  }
  CommHandle finish(EventPtr done, bool async, std::vector<Tensor> keep) {
    if (async)
      return std::make_shared<NcclWork>(device_, std::move(done), std::move(keep), stalls_);
    order_after(*done);
    return nullptr;
  }

  // The host waits for done, polling against the timeout (never a bare synchronize).
  void host_wait(const Event& done, const char* op) {
    const auto start = clock::now();
    for (int spins = 0;; ++spins) {
      const cudaError_t e = cudaEventQuery(done.e);
      if (e == cudaSuccess) return stalls_->add_host(seconds_since(start));
      if (e != cudaErrorNotReady) fault(live_ ? comm_ : nullptr, cuda_fault(e, op));
      if (seconds_since(start) > comm_timeout()) fault(live_ ? comm_ : nullptr, timeout_fault(op));
      if (spins % 4096 == 4095) {
        const std::string bad = async_fault();
        if (!bad.empty()) fault(comm_, bad);
      }
      if (spins > 64)
        std::this_thread::sleep_for(std::chrono::microseconds(spins > 4096 ? 500 : 20));
    }
  }

  // Host sums go through a pinned staging buffer and a device buffer of this communicator.
  void staging(std::size_t bytes) {
    if (bytes <= buf_bytes_) return;
    std::size_t want = 4096;
    while (want < bytes) want *= 2;
    // The buffers are idle: every host operation waited for its own end.
    if (dbuf_) VPMOE_CUDA_CHECK(cudaFreeAsync(dbuf_, stream_));
    if (hbuf_) VPMOE_CUDA_CHECK(cudaFreeHost(hbuf_));
    dbuf_ = hbuf_ = nullptr, buf_bytes_ = 0;
    VPMOE_CUDA_CHECK(cudaMallocAsync(&dbuf_, want, stream_));
    VPMOE_CUDA_CHECK(cudaMallocHost(&hbuf_, want));
    buf_bytes_ = want;
  }

  void host_all_reduce(void* data, std::size_t bytes, std::size_t n, ncclDataType_t type,
                       const char* op) {
    if (n == 0) return;
    DeviceGuard g(device_.index);
    staging(bytes);
    std::memcpy(hbuf_, data, bytes);
    EventPtr done = launch(op, false, [&] {
      VPMOE_CUDA_CHECK(cudaMemcpyAsync(dbuf_, hbuf_, bytes, cudaMemcpyHostToDevice, stream_));
      const ncclResult_t r = ncclAllReduce(dbuf_, dbuf_, n, type, ncclSum, comm_, stream_);
      VPMOE_CUDA_CHECK(cudaMemcpyAsync(hbuf_, dbuf_, bytes, cudaMemcpyDeviceToHost, stream_));
      return r;
    });
    host_wait(*done, op);
    std::memcpy(data, hbuf_, bytes);
  }

  Device device_;
  std::string name_;
  int world_rank_ = 0, rank_ = 0, size_ = 1;
  ncclComm_t comm_ = nullptr;
  std::atomic<bool> live_{false};  // comm_ may be queried (set after init, cleared at destroy)
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;
  std::shared_ptr<StallLog> stalls_ = std::make_shared<StallLog>();
  void* dbuf_ = nullptr;
  void* hbuf_ = nullptr;
  std::size_t buf_bytes_ = 0;

  mutable std::mutex mu_;  // pending_ and busy_, shared with the watchdog
  std::deque<Pending> pending_;
  const char* busy_ = nullptr;
  clock::time_point busy_since_;
  std::shared_ptr<Watchdog> watchdog_;
};

void Watchdog::loop() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    cv_.wait_for(lk, std::chrono::milliseconds(100));
    if (stop_) break;
    for (NcclComm* c : comms_) c->watch();
  }
}

}  // namespace

bool nccl_available() {
  return true;
}

std::vector<std::byte> nccl_unique_id() {
  multicast_off_by_default();
  ncclUniqueId id;
  const ncclResult_t r = ncclGetUniqueId(&id);
  if (r != ncclSuccess)
    throw Error(std::string("NCCL: ncclGetUniqueId failed: ") + ncclGetErrorString(r));
  std::vector<std::byte> out(sizeof id.internal);
  std::memcpy(out.data(), id.internal, out.size());
  return out;
}

std::unique_ptr<Comm> nccl_comm(std::span<const std::byte> unique_id, int rank, int size,
                                Device device) {
  if (!device.is_cuda()) throw Error("NCCL needs a CUDA device, found " + device.str());
  if (size < 1 || rank < 0 || rank >= size)
    throw Error("NCCL: rank " + std::to_string(rank) + " of " + std::to_string(size));
  multicast_off_by_default();
  auto c = std::make_unique<NcclComm>(device, "world", rank);
  c->init(unique_id, rank, size);
  return c;
}

}  // namespace vpmoe
#endif
