// The NCCL backend (label gpu; skips without a device). One rank in this process runs every
// collective on CUDA tensors; two processes (this binary again, started with torchrun-style
// variables, meeting at the TCP store) need two GPUs and skip otherwise.
#include <cuda_runtime.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "collective_checks.h"
#include "comm/launch.h"
#include "comm/nccl_backend.h"
#include "comm/tcp_store.h"
#include "vpmoe/device.h"
#include "vpmoe/error.h"

extern char** environ;

namespace vpmoe::testing {
namespace {

using clock = std::chrono::steady_clock;
const std::vector<DType> kSums{DType::f32, DType::bf16, DType::i32, DType::i64};

#define VPMOE_REQUIRE_NCCL()                                        \
  if (!::vpmoe::cuda_available()) GTEST_SKIP() << "no CUDA device"; \
  if (!::vpmoe::nccl_available()) GTEST_SKIP() << "this build has no NCCL"

TEST(Nccl, OneRankRunsEveryCollectiveLikeTheCpu) {
  VPMOE_REQUIRE_NCCL();
  set_comm_timeout(60);
  const Device gpu = Device::cuda(0);
  std::shared_ptr<Comm> c = nccl_comm(nccl_unique_id(), 0, 1, gpu);
  EXPECT_EQ(c->backend(), "nccl");
  EXPECT_EQ(c->name(), "world");
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  check_every_collective(*c, gpu, kSums);
  // The same checks pass on the CPU's single-process comm: both give the one-rank answers.
  check_every_collective(*single_process_comm(), Device::cpu(), kSums);
  check_parallel_state(c, 1, 1, gpu);
  synchronize(gpu);
}

// A result is ordered on vpmoe's current stream, whichever stream that is.
TEST(Nccl, ResultsAreOrderedOnTheCurrentStream) {
  VPMOE_REQUIRE_NCCL();
  const Device gpu = Device::cuda(0);
  auto c = nccl_comm(nccl_unique_id(), 0, 1, gpu);
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  set_current_stream(gpu, s);
  {
    const std::int64_t n = 1 << 24;  // long enough that a missing wait would show
    Tensor in = Tensor::from_floats(std::vector<float>(std::size_t(n), 3.f), {n}, DType::f32, gpu);
    Tensor out = Tensor::zeros({n}, DType::f32, gpu);
    CommHandle h = c->all_gather(in, out, true);
    h->wait();
    const std::vector<float> got = out.to_floats();
    EXPECT_EQ(got.front(), 3.f);
    EXPECT_EQ(got.back(), 3.f);
  }
  synchronize(gpu);
  set_current_stream(gpu, nullptr);
  cudaStreamDestroy(s);
}

TEST(Nccl, RefusesTensorsOfAnotherDeviceAndUnsupportedSums) {
  VPMOE_REQUIRE_NCCL();
  auto c = nccl_comm(nccl_unique_id(), 0, 1, Device::cuda(0));
  EXPECT_THROW(c->all_reduce_sum(Tensor::zeros({4}, DType::f32)), Error);  // CPU tensor
  EXPECT_THROW(c->all_reduce_sum(Tensor::zeros({4}, DType::u8, Device::cuda(0))), Error);
  std::vector<std::int64_t> counts{1, 1};
  Tensor t = Tensor::zeros({2, 3}, DType::f32, Device::cuda(0));
  EXPECT_THROW(c->all_to_all(t, counts, t, counts), Error);  // two counts, one rank
}

// ---- two processes --------------------------------------------------------------------------

// Runs this binary again with env added; returns its pid.
pid_t spawn_self(const std::string& filter, const std::vector<std::string>& env,
                 const std::string& log) {
  std::vector<std::string> vars(env);
  for (char** e = environ; *e; ++e) vars.emplace_back(*e);
  std::vector<char*> envp, argv;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string self = "/proc/self/exe", arg = "--gtest_filter=" + filter;
  argv = {self.data(), arg.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 2, 1);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, self.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw Error("posix_spawn failed: " + std::to_string(rc));
  return pid;
}

// Waits for pid up to seconds; returns its exit status, or -1 (killed) when it ran over.
int wait_for(pid_t pid, double seconds) {
  const auto t0 = clock::now();
  for (;;) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    if (std::chrono::duration<double>(clock::now() - t0).count() > seconds) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> rank_env(int rank, int port, const std::string& mode) {
  return {"RANK=" + std::to_string(rank),        "WORLD_SIZE=2",
          "LOCAL_RANK=" + std::to_string(rank),  "MASTER_ADDR=127.0.0.1",
          "MASTER_PORT=" + std::to_string(port), "NCCL_NVLS_ENABLE=0",
          "VPMOE_TEST_NCCL_CHILD=" + mode};
}

std::string child_mode() {
  const char* m = std::getenv("VPMOE_TEST_NCCL_CHILD");
  return m ? m : "";
}

std::string log_path(const std::string& what, int rank) {
  return ::testing::TempDir() + "nccl_" + what + "_rank" + std::to_string(rank) + ".log";
}

TEST(NcclTwoProcesses, EveryCollectiveAndTheGroupsOverTheTcpStore) {
  VPMOE_REQUIRE_NCCL();
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs two GPUs, found " << cuda_device_count();
  const int port = TcpStoreServer(0).port();
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r)
    pids.push_back(
        spawn_self("NcclChild.*", rank_env(r, port, "collectives"), log_path("collectives", r)));
  for (int r = 0; r < 2; ++r) {
    const int rc = wait_for(pids[std::size_t(r)], 180);
    EXPECT_EQ(rc, 0) << "rank " << r << ":\n" << slurp(log_path("collectives", r));
  }
}

// Rank 1 stalls before an all-reduce: rank 0's watchdog ends it, non-zero, within the timeout
// (3 s here), naming the operation and the group.
TEST(NcclTwoProcesses, AStalledRankEndsTheOthersWithinTheTimeout) {
  VPMOE_REQUIRE_NCCL();
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs two GPUs, found " << cuda_device_count();
  const int port = TcpStoreServer(0).port();
  const auto t0 = clock::now();
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r)
    pids.push_back(spawn_self("NcclChild.*", rank_env(r, port, "stall"), log_path("stall", r)));
  const int rc0 = wait_for(pids[0], 120);
  const double s = std::chrono::duration<double>(clock::now() - t0).count();
  kill(pids[1], SIGKILL);
  wait_for(pids[1], 10);
  const std::string log0 = slurp(log_path("stall", 0));
  EXPECT_NE(rc0, 0) << log0;
  EXPECT_NE(rc0, -1) << "rank 0 hung:\n" << log0;
  EXPECT_LT(s, 60.0) << log0;
  EXPECT_NE(log0.find("NCCL all_reduce on group world (world rank 0"), std::string::npos) << log0;
  EXPECT_NE(log0.find("did not finish within 3 s"), std::string::npos) << log0;
}

// The ranks of the tests above (skipped when run directly).
TEST(NcclChild, Rank) {
  const std::string mode = child_mode();
  if (mode.empty()) GTEST_SKIP() << "a rank of NcclTwoProcesses.*";
  set_comm_timeout(60);  // start-up: CUDA, the TCP store, NCCL's init
  const Launch l = detect_launch();
  ASSERT_EQ(l.launcher, "torchrun");
  ASSERT_EQ(l.world, 2);
  const Device gpu = Device::cuda(local_cuda_device(l, cuda_device_count()));
  std::shared_ptr<Comm> w = world_comm(l, gpu, "auto");
  ASSERT_EQ(w->backend(), "nccl");
  ASSERT_EQ(w->rank(), l.rank);
  ASSERT_EQ(w->size(), 2);
  if (mode == "stall") {
    w->barrier();
    set_comm_timeout(3);
    if (l.rank == 1) std::this_thread::sleep_for(std::chrono::seconds(600));
    Tensor t = Tensor::zeros({1024}, DType::f32, gpu);
    w->all_reduce_sum(t);
    synchronize(gpu);  // blocks here; the watchdog ends the process
    FAIL() << "the all-reduce finished without rank 1";
  }
  check_every_collective(*w, gpu, kSums);
  check_parallel_state(w, 1, 2, gpu);
  check_parallel_state(w, 1, 1, gpu);
  synchronize(gpu);
}

}  // namespace
}  // namespace vpmoe::testing
