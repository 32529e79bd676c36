// One process: rank 0 of 1. Every collective is the identity, or a copy when in and out differ.
#include "vpmoe/comm.h"
#include "vpmoe/error.h"

namespace vpmoe {
namespace {

void copy_unless_same(const Tensor& in, const Tensor& out, const char* what) {
  if (in.nbytes() != out.nbytes())
    throw Error(std::string("single-process ") + what + ": " + in.str() + " into " + out.str());
  if (in.data() != out.data()) Tensor(out).copy_from(in.view(out.shape()));
}

// Nothing is ever in flight, but async callers get a handle as with the other backends.
struct Done final : CommWork {
  void wait() override {}
};
CommHandle done_if(bool async) {
  return async ? std::make_shared<Done>() : nullptr;
}

class SingleProcessComm final : public Comm {
 public:
  explicit SingleProcessComm(std::string name) : name_(std::move(name)) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return name_; }
  std::string backend() const override { return "single"; }
  void all_reduce_sum(std::span<std::int64_t>) override {}
  void all_reduce_sum(std::span<double>) override {}
  void all_reduce_sum(std::span<float>) override {}
  CommHandle all_reduce_sum(const Tensor&, bool async) override { return done_if(async); }
  CommHandle reduce_scatter_sum(const Tensor& in, const Tensor& out, bool async) override {
    copy_unless_same(in, out, "reduce_scatter");
    return done_if(async);
  }
  CommHandle all_gather(const Tensor& in, const Tensor& out, bool async) override {
    copy_unless_same(in, out, "all_gather");
    return done_if(async);
  }
  void all_to_all(const Tensor& in, std::span<const std::int64_t> send_rows, const Tensor& out,
                  std::span<const std::int64_t> recv_rows) override {
    if (send_rows.size() != 1 || recv_rows.size() != 1 || send_rows[0] != recv_rows[0] ||
        send_rows[0] > in.size(0) || recv_rows[0] > out.size(0))
      throw Error("single-process all_to_all: the counts do not describe one rank");
    if (send_rows[0] > 0)
      copy_unless_same(in.slice(0, send_rows[0]), out.slice(0, recv_rows[0]), "all_to_all");
  }
  void broadcast(const Tensor&, int) override {}
  void barrier() override {}
  void broadcast_bytes(std::span<std::byte>, int) override {}
  std::unique_ptr<Comm> split(int, int, const std::string& name) override {
    return std::make_unique<SingleProcessComm>(name);
  }

 private:
  std::string name_;
};

}  // namespace

std::unique_ptr<Comm> single_process_comm() {
  return std::make_unique<SingleProcessComm>("world");
}

}  // namespace vpmoe
