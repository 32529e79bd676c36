// The TCP store on localhost: threads play ranks 0..3 of one rendezvous.
#include <gtest/gtest.h>

#include <utility>  // before Asio (Boost 1.74 misses it)

#include <boost/asio.hpp>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "comm/tcp_store.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

using clock = std::chrono::steady_clock;

std::vector<std::byte> blob(std::size_t n) {
  std::vector<std::byte> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = std::byte((i * 13 + 5) & 255);
  return b;
}

// A port that was free a moment ago (the kernel's pick for port 0).
int free_port() {
  TcpStoreServer s(0);
  return s.port();
}

double seconds_since(clock::time_point t) {
  return std::chrono::duration<double>(clock::now() - t).count();
}

TEST(TcpStore, EveryRankGetsRankZerosBytes) {
  const auto id = blob(128);
  TcpStoreServer server(0);
  ASSERT_GT(server.port(), 0);
  std::vector<std::future<std::vector<std::byte>>> ranks;
  for (int r = 1; r < 4; ++r)
    ranks.push_back(std::async(std::launch::async, [&, r] {
      return tcp_store_fetch(r == 2 ? "localhost" : "127.0.0.1", server.port(), r, 4, 20);
    }));
  server.serve(id, 4, 20);
  for (auto& f : ranks) EXPECT_EQ(f.get(), id);
}

// The other ranks usually start first: they retry until rank 0 listens.
TEST(TcpStore, RanksThatStartBeforeRankZeroWait) {
  const auto id = blob(300);
  const int port = free_port();
  std::vector<std::future<std::vector<std::byte>>> ranks;
  for (int r = 0; r < 4; ++r)
    ranks.push_back(std::async(std::launch::async, [&, r] {
      if (r == 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
      return tcp_store_share("127.0.0.1", port, r, 4, r == 0 ? id : std::vector<std::byte>{}, 20);
    }));
  for (auto& f : ranks) EXPECT_EQ(f.get(), id);
}

// A connection that never says who it is (a port scanner, another program) changes nothing.
TEST(TcpStore, ASilentConnectionDoesNotBlockTheRendezvous) {
  const auto id = blob(64);
  TcpStoreServer server(0);
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket silent(io);
  silent.connect(
      {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server.port())});
  auto one = std::async(std::launch::async,
                        [&] { return tcp_store_fetch("127.0.0.1", server.port(), 1, 2, 10); });
  const auto t0 = clock::now();
  server.serve(id, 2, 10);
  EXPECT_EQ(one.get(), id);
  EXPECT_LT(seconds_since(t0), 5.0);
}

TEST(TcpStore, OneRankNeedsNoNetwork) {
  const auto id = blob(8);
  EXPECT_EQ(tcp_store_share("nowhere.invalid", 1, 0, 1, id, 0.1), id);
}

TEST(TcpStore, NoServerFailsWithinTheTimeoutNamingTheAddress) {
  const int port = free_port();
  const auto t0 = clock::now();
  try {
    tcp_store_fetch("127.0.0.1", port, 1, 2, 1.0);
    FAIL() << "fetched from nobody";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << msg;
    EXPECT_NE(msg.find("within 1 s"), std::string::npos) << msg;
  }
  EXPECT_LT(seconds_since(t0), 3.0);
}

TEST(TcpStore, ServerNamesTheRanksThatNeverCame) {
  TcpStoreServer server(0);
  auto one = std::async(std::launch::async, [&] {
    try {
      tcp_store_fetch("127.0.0.1", server.port(), 1, 3, 2.0);
    } catch (const Error&) {
    }
  });
  const auto t0 = clock::now();
  try {
    server.serve(blob(16), 3, 1.0);
    FAIL() << "served without rank 2";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("only 1 of the 2 other ranks"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing: 2"), std::string::npos) << msg;
    EXPECT_NE(msg.find(":" + std::to_string(server.port())), std::string::npos) << msg;
  }
  EXPECT_LT(seconds_since(t0), 3.0);
  one.get();
}

TEST(TcpStore, WorldSizesThatDisagreeAreAnError) {
  TcpStoreServer server(0);
  auto other = std::async(std::launch::async, [&] {
    try {
      tcp_store_fetch("127.0.0.1", server.port(), 1, 3, 2.0);
    } catch (const Error&) {
    }
  });
  try {
    server.serve(blob(16), 2, 5.0);
    FAIL() << "served a rank of another world";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 of 3, this run has 2"), std::string::npos)
        << e.what();
  }
  other.get();
}

TEST(TcpStore, APortInUseIsNamed) {
  TcpStoreServer first(0);
  // reuse_address lets a second listener bind a TIME_WAIT port, not a listening one.
  try {
    TcpStoreServer second(first.port());
    FAIL() << "two listeners on one port";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(first.port())), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vpmoe::testing
