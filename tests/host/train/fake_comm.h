#pragma once
// A stand-in for a group of two identical ranks in one process: every sum doubles (both ranks
// hold the same numbers). An asynchronous all-reduce remembers the tensor's bytes when it
// starts; wait() records whether they changed since (a grad written after its bucket started
// would be a race on a real backend) and then doubles them.
#include <cstring>
#include <vector>

#include "vpmoe/comm.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::testing {

class TwinComm final : public Comm {
 public:
  int starts = 0, changed_after_start = 0;

  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::string backend() const override { return "twin"; }
  void all_reduce_sum(std::span<std::int64_t> v) override {
    for (auto& x : v) x *= 2;
  }
  void all_reduce_sum(std::span<double> v) override {
    for (auto& x : v) x *= 2;
  }
  void all_reduce_sum(std::span<float> v) override {
    for (auto& x : v) x *= 2;
  }
  CommHandle all_reduce_sum(const Tensor& t, bool async) override {
    ++starts;
    auto w = std::make_shared<Work>(this, t);
    if (!async) {
      w->wait();
      return nullptr;
    }
    return w;
  }
  CommHandle reduce_scatter_sum(const Tensor&, const Tensor&, bool) override {
    return unsupported();
  }
  CommHandle all_gather(const Tensor&, const Tensor&, bool) override { return unsupported(); }
  void all_to_all(const Tensor&, std::span<const std::int64_t>, const Tensor&,
                  std::span<const std::int64_t>) override {
    unsupported();
  }
  void broadcast(const Tensor&, int) override {}
  void barrier() override {}
  void broadcast_bytes(std::span<std::byte>, int) override {}
  std::unique_ptr<Comm> split(int, int, const std::string&) override {
    unsupported();
    return nullptr;
  }

 private:
  struct Work final : CommWork {
    TwinComm* comm;
    Tensor t;
    std::vector<float> at_start;
    bool done = false;
    Work(TwinComm* c, const Tensor& x) : comm(c), t(x), at_start(x.to_floats()) {}
    void wait() override {
      if (done) return;
      done = true;
      const std::vector<float> now = t.to_floats();
      if (std::memcmp(now.data(), at_start.data(), now.size() * sizeof(float)) != 0)
        ++comm->changed_after_start;
      ops::scale(t, 2.f, t);
    }
  };
  static CommHandle unsupported() { throw Error("TwinComm: not used by these tests"); }
};

}  // namespace vpmoe::testing
