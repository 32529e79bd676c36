// The TCP store over Boost.Asio (header-only). Every wait is an asynchronous operation run
// against a deadline, so a missing peer is an error naming the address, never a hang.
#include "comm/tcp_store.h"

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <thread>

#include "vpmoe/error.h"

namespace vpmoe {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;

constexpr std::uint32_t kMagic = 0x53504d56;  // "VMPS"
constexpr std::uint64_t kMaxBlob = 1 << 20;

// rank -> rank 0: who is asking.
struct Hello {
  std::uint32_t magic;
  std::int32_t rank, world;
};
// rank 0 -> rank: the blob's length (the blob follows).
struct Header {
  std::uint32_t magic, world;
  std::uint64_t length;
};

clock::time_point deadline_after(double seconds) {
  return clock::now() + std::chrono::duration_cast<clock::duration>(
                            std::chrono::duration<double>(seconds > 0 ? seconds : 0));
}

// Runs io until done is set or the deadline passes; true when done.
bool run_until(asio::io_context& io, clock::time_point deadline, const bool& done) {
  io.restart();
  while (!done)
    if (io.run_one_until(deadline) == 0) break;
  return done;
}

std::string seconds_str(double s) {
  std::string t = std::to_string(s);
  t.erase(t.find_last_not_of('0') + 1);
  if (!t.empty() && t.back() == '.') t.pop_back();
  return t;
}

}  // namespace

struct TcpStoreServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  int port = 0;
};

TcpStoreServer::TcpStoreServer(int port) : impl_(std::make_unique<Impl>()) {
  boost::system::error_code ec;
  auto& acc = impl_->acceptor;
  const tcp::endpoint at(tcp::v4(), static_cast<unsigned short>(port));
  acc.open(at.protocol(), ec);
  // A restarted run may find the last run's port in TIME_WAIT.
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(at, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw Error("TCP store: rank 0 cannot listen on 0.0.0.0:" + std::to_string(port) + ": " +
                ec.message() + " (is another run using MASTER_PORT=" + std::to_string(port) + "?)");
  impl_->port = acc.local_endpoint().port();
}

TcpStoreServer::~TcpStoreServer() = default;

int TcpStoreServer::port() const {
  return impl_->port;
}

void TcpStoreServer::serve(std::span<const std::byte> blob, int world, double timeout_s) {
  if (world <= 1) return;
  if (blob.size() > kMaxBlob) throw Error("TCP store: the blob is too large");
  auto& io = impl_->io;
  auto& acc = impl_->acceptor;
  const auto deadline = deadline_after(timeout_s);
  const std::string where = "TCP store on 0.0.0.0:" + std::to_string(impl_->port) + " (rank 0)";

  std::vector<std::shared_ptr<tcp::socket>> peer(static_cast<std::size_t>(world));
  std::vector<std::shared_ptr<tcp::socket>> accepted;  // every connection, closed at the end
  int joined = 0, sent = 0;
  bool done = false;
  std::string error;
  const Header header{kMagic, std::uint32_t(world), blob.size()};

  auto send_all = [&] {
    for (int r = 1; r < world; ++r) {
      std::array<asio::const_buffer, 2> bufs{asio::buffer(&header, sizeof header),
                                             asio::buffer(blob.data(), blob.size())};
      asio::async_write(*peer[std::size_t(r)], bufs,
                        [&, r](boost::system::error_code ec, std::size_t) {
                          if (ec && error.empty())
                            error = "sending to rank " + std::to_string(r) + ": " + ec.message();
                          if (++sent == world - 1 || !error.empty()) done = true;
                        });
    }
  };
  std::function<void()> accept_next = [&] {
    auto sock = std::make_shared<tcp::socket>(io);
    acc.async_accept(*sock, [&, sock](boost::system::error_code ec) {
      if (ec) return;  // closed at the end
      accepted.push_back(sock);
      accept_next();
      auto hello = std::make_shared<Hello>();
      asio::async_read(*sock, asio::buffer(hello.get(), sizeof(Hello)),
                       [&, sock, hello](boost::system::error_code rec, std::size_t) {
                         // A peer that went away before saying who it is will retry.
                         if (rec || hello->magic != kMagic || joined == world - 1) return;
                         if (hello->world != world || hello->rank < 1 || hello->rank >= world) {
                           error = "a process says it is rank " + std::to_string(hello->rank) +
                                   " of " + std::to_string(hello->world) + ", this run has " +
                                   std::to_string(world) + " (WORLD_SIZE differs between ranks?)";
                           done = true;
                           return;
                         }
                         auto& slot = peer[std::size_t(hello->rank)];
                         if (!slot) ++joined;  // else a retried connection replaces the old one
                         slot = sock;
                         if (joined == world - 1) send_all();
                       });
    });
  };
  accept_next();
  const bool ok = run_until(io, deadline, done) && error.empty();

  // Cancel whatever is still pending, so no handler outlives this frame.
  boost::system::error_code ignored;
  acc.close(ignored);
  for (auto& s : accepted) s->shutdown(tcp::socket::shutdown_send, ignored), s->close(ignored);
  io.restart();
  io.run();
  if (ok) return;
  if (!error.empty()) throw Error(where + ": " + error);
  std::string missing;
  for (int r = 1; r < world; ++r)
    if (!peer[std::size_t(r)]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
  throw Error(where + ": only " + std::to_string(joined) + " of the " + std::to_string(world - 1) +
              " other ranks connected within " + seconds_str(timeout_s) +
              " s (missing: " + missing + "; [parallel] timeout_s)");
}

std::vector<std::byte> tcp_store_fetch(const std::string& host, int port, int rank, int world,
                                       double timeout_s) {
  const std::string where = "TCP store at " + host + ":" + std::to_string(port);
  const auto deadline = deadline_after(timeout_s);
  asio::io_context io;
  tcp::resolver resolver(io);
  std::string last = "no answer";
  for (;;) {
    if (clock::now() >= deadline)
      throw Error("rank " + std::to_string(rank) + " could not reach the " + where + " within " +
                  seconds_str(timeout_s) + " s: " + last +
                  " (is rank 0 running, and are MASTER_ADDR and MASTER_PORT right?)");
    boost::system::error_code ec;
    const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) {
      last = "cannot resolve " + host + ": " + ec.message();
    } else {
      tcp::socket sock(io);
      bool finished = false;
      boost::system::error_code step;
      auto on_done = [&](boost::system::error_code e, auto&&...) { step = e, finished = true; };
      Hello hello{kMagic, rank, world};
      Header header{};
      std::vector<std::byte> blob;
      asio::async_connect(sock, endpoints, on_done);
      if (run_until(io, deadline, finished) && !step) {
        finished = false;
        asio::async_write(sock, asio::buffer(&hello, sizeof hello), on_done);
        run_until(io, deadline, finished);
      }
      if (finished && !step) {
        finished = false;
        asio::async_read(sock, asio::buffer(&header, sizeof header), on_done);
        run_until(io, deadline, finished);
      }
      if (finished && !step) {
        if (header.magic != kMagic || header.length > kMaxBlob || int(header.world) != world)
          throw Error(where + " answered rank " + std::to_string(rank) +
                      " with something else than this run's rendezvous (another program on "
                      "MASTER_PORT, or a run of another size?)");
        blob.resize(header.length);
        finished = false;
        asio::async_read(sock, asio::buffer(blob.data(), blob.size()), on_done);
        run_until(io, deadline, finished);
      }
      if (finished && !step) return blob;
      last = finished ? step.message() : "timed out";
      boost::system::error_code ignored;
      sock.close(ignored);
      io.restart();
      io.run();  // the cancelled handler
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::vector<std::byte> tcp_store_share(const std::string& host, int port, int rank, int world,
                                       std::span<const std::byte> blob, double timeout_s) {
  if (rank != 0) return tcp_store_fetch(host, port, rank, world, timeout_s);
  TcpStoreServer server(port);
  server.serve(blob, world, timeout_s);
  return {blob.begin(), blob.end()};
}

}  // namespace vpmoe
