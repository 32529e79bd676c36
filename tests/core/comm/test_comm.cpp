// Comm: the single-process group is the identity; MPI_COMM_WORLD runs every collective over
// every rank. ctest runs this alone (one rank) and under mpirun -np 2 and -np 4, so the
// expected values are computed from the group size.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "collective_checks.h"
#include "vpmoe/comm.h"
#include "vpmoe/error.h"
#include "vpmoe/parallel.h"

namespace vpmoe::testing {
namespace {

// MPI_COMM_WORLD, with a timeout short enough that a rank that lost step fails the test
// instead of outliving ctest's limit.
std::shared_ptr<Comm> mpi_world() {
  static std::shared_ptr<Comm> w = [] {
    set_comm_timeout(30);
    return std::shared_ptr<Comm>(mpi_world_comm());
  }();
  return w;
}

#define VPMOE_REQUIRE_MPI()                  \
  if (!mpi_available()) {                    \
    EXPECT_THROW(mpi_world_comm(), Error);   \
    GTEST_SKIP() << "this build has no MPI"; \
  }

TEST(Comm, SingleProcessIsRankZeroOfOneAndKeepsValues) {
  auto c = single_process_comm();
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  std::vector<std::int64_t> v{3, -4, 5};
  c->all_reduce_sum(v);
  EXPECT_EQ(v, (std::vector<std::int64_t>{3, -4, 5}));
}

TEST(Comm, SingleProcessRunsEveryCollective) {
  auto c = single_process_comm();
  check_every_collective(*c, Device::cpu(), {DType::f32, DType::bf16, DType::i32, DType::i64});
  std::shared_ptr<Comm> w = single_process_comm();
  check_parallel_state(w, 1, 1, Device::cpu());
}

TEST(Comm, MpiWorldSumsOverEveryRank) {
  VPMOE_REQUIRE_MPI();
  auto c = mpi_world();
  const int R = c->size(), me = c->rank();
  ASSERT_GE(R, 1);
  ASSERT_LT(me, R);
  EXPECT_EQ(c->backend(), "mpi");
  EXPECT_EQ(c->name(), "world");
  check_host_sums(*c);
}

TEST(Comm, MpiTensorCollectivesMatchTheHostSums) {
  VPMOE_REQUIRE_MPI();
  check_every_collective(*mpi_world(), Device::cpu(), {DType::f32, DType::i32, DType::i64});
}

TEST(Comm, MpiRefusesBf16SumsAndCudaTensorsByName) {
  VPMOE_REQUIRE_MPI();
  auto c = mpi_world();
  Tensor t = Tensor::zeros({4}, DType::bf16);
  try {
    c->all_reduce_sum(t);
    FAIL() << "bf16 sums over MPI";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
  }
}

TEST(Comm, MpiParallelStateGroupsHoldTheirRanks) {
  VPMOE_REQUIRE_MPI();
  auto w = mpi_world();
  const int R = w->size();
  for (auto [tp, ep] : std::vector<std::pair<int, int>>{{1, 1}, {1, 2}, {1, 4}, {2, 1}, {2, 2}})
    if (R % (tp * ep) == 0) check_parallel_state(w, tp, ep, Device::cpu());
  check_parallel_state(w, 1, R, Device::cpu());
}

TEST(Comm, MpiSplitOrdersByKey) {
  VPMOE_REQUIRE_MPI();
  auto w = mpi_world();
  const int R = w->size(), me = w->rank();
  // One group, reversed: the new rank is R - 1 - me.
  auto rev = w->split(0, R - 1 - me, "reversed");
  EXPECT_EQ(rev->rank(), R - 1 - me);
  EXPECT_EQ(rev->name(), "reversed");
  std::vector<std::int64_t> v{rev->rank() == 0 ? me : 0};
  rev->all_reduce_sum(v);
  EXPECT_EQ(v[0], R - 1);  // world rank R - 1 is the new rank 0
}

// Ranks 0 and 1 form a pair; rank 1 joins rank 0's all-reduce only after rank 0 gave up, so
// rank 0 sees the timeout and both go on: the late call completes the abandoned one.
TEST(Comm, MpiTimeoutNamesTheOperationAndTheGroup) {
  VPMOE_REQUIRE_MPI();
  auto w = mpi_world();
  const int R = w->size(), me = w->rank();
  if (R < 2) GTEST_SKIP() << "needs two ranks (mpirun -np 2)";
  auto pair = w->split(me < 2 ? 0 : 1, me, me < 2 ? "pair" : "others");
  // MPI may still write into it after rank 0 stopped waiting: it outlives the test.
  static std::vector<std::int64_t> late{1};
  if (me == 0) {
    set_comm_timeout(2);
    const auto t0 = std::chrono::steady_clock::now();
    std::string msg;
    try {
      pair->all_reduce_sum(late);
    } catch (const Error& e) {
      msg = e.what();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    set_comm_timeout(30);
    EXPECT_GE(s, 1.9);
    EXPECT_LT(s, 5.0);
    EXPECT_NE(msg.find("timed out"), std::string::npos) << msg;
    EXPECT_NE(msg.find("all_reduce on group pair"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 0"), std::string::npos) << msg;
  } else if (me == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    pair->all_reduce_sum(late);
    EXPECT_EQ(late[0], 2);
  }
  w->barrier();
  // The world still works.
  std::vector<std::int64_t> v{1};
  w->all_reduce_sum(v);
  EXPECT_EQ(v[0], R);
}

}  // namespace
}  // namespace vpmoe::testing
