#pragma once
// A one-shot TCP rendezvous for launches without MPI (torchrun-style variables, srun): rank 0
// listens on MASTER_PORT and hands one byte blob (the NCCL unique id) to each other rank once
// all of them have connected, so it doubles as a start-up barrier. Asio stays in the .cpp.
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace vpmoe {

class TcpStoreServer {
 public:
  // Listens on every IPv4 interface at port now (0: a free port, see port()). Throws
  // vpmoe::Error naming the port when it cannot.
  explicit TcpStoreServer(int port);
  ~TcpStoreServer();
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

  int port() const;
  // Waits until ranks 1..world-1 have connected, then sends blob to each. Throws vpmoe::Error
  // naming the port and the missing ranks after timeout_s.
  void serve(std::span<const std::byte> blob, int world, double timeout_s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Rank `rank` (>= 1) of world: connects to host:port, retrying until timeout_s (rank 0 may
// start later), and returns rank 0's blob. Errors name host:port.
std::vector<std::byte> tcp_store_fetch(const std::string& host, int port, int rank, int world,
                                       double timeout_s);

// Rank 0 serves blob on port; every other rank fetches it from host:port. Returns the blob.
std::vector<std::byte> tcp_store_share(const std::string& host, int port, int rank, int world,
                                       std::span<const std::byte> blob, double timeout_s);

}  // namespace vpmoe
