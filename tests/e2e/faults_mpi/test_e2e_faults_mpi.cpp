// A rank that dies (kill -9) or stalls (SIGSTOP) mid-training: the run ends non-zero within
// [parallel] timeout_s (20 s) instead of hanging. The stalled case is caught by the waiting
// rank's own timeout, whose message names its rank, the group and the operation.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vpmoe_faults_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = (dir_ / "run.toml").string();
    std::ofstream(config_) << "[run]\nmodel_config = \"" << VPMOE_SOURCE_DIR
                           << "/configs/tiny.toml\"\ndir = \"" << (dir_ / "run").string()
                           << "\"\n[tokenizer]\npath = \"" << VPMOE_SOURCE_DIR
                           << "/data/tokenizer/o200k_base.tiktoken\"\n[data]\nsource = "
                              "\"mock\"\nvalid_paths = []\neval_interval = 0\n[train]\n"
                              "micro_batch_size = 1\nglobal_batch_size = 2\ntrain_iters = "
                              "1000000\n[parallel]\ntimeout_s = 20\n[checkpoint]\nsave = false\n"
                              "[log]\nprogress = false\n";
  }
  void TearDown() override {
    if (mpirun_ > 0) {
      ::kill(-mpirun_, SIGKILL);
      ::waitpid(mpirun_, nullptr, 0);
    }
    fs::remove_all(dir_);
  }

  // mpirun -np 2 vpmoe-host --config run.toml, in its own process group, output to a file.
  void start() {
    mpirun_ = ::fork();
    ASSERT_GE(mpirun_, 0);
    if (mpirun_ == 0) {
      ::setpgid(0, 0);
      const std::string out = (dir_ / "out.txt").string();
      std::freopen(out.c_str(), "w", stdout);
      std::freopen(out.c_str(), "a", stderr);
      ::execl(VPMOE_MPIEXEC, VPMOE_MPIEXEC, "-np", "2", "--oversubscribe", "--allow-run-as-root",
              VPMOE_HOST_BIN, "--config", config_.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
  }

  // Waits until rank 0 has logged `steps` steps (the ranks are in the training loop).
  bool wait_for_steps(int steps) {
    const auto until = clock_type::now() + std::chrono::seconds(120);
    while (clock_type::now() < until) {
      std::ifstream in(dir_ / "run/metrics.jsonl");
      int n = 0;
      for (std::string line; std::getline(in, line);) ++n;
      if (n >= steps) return true;
      if (::waitpid(mpirun_, nullptr, WNOHANG) == mpirun_) return mpirun_ = 0, false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // The pid of this run's vpmoe-host rank r (its command line names our run.toml).
  pid_t rank_pid(int r) {
    const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(r);
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string cmd = slurp(e.path() / "cmdline");
      if (cmd.find(VPMOE_HOST_BIN) == std::string::npos || cmd.find(config_) == std::string::npos)
        continue;
      const std::string env = slurp(e.path() / "environ");
      if (env.find(want + '\0') != std::string::npos || env.find('\0' + want) != std::string::npos)
        return pid_t(std::stol(name));
    }
    return 0;
  }

  // Seconds until mpirun exits, and its exit status (-1: still running after limit_s).
  std::pair<double, int> wait_exit(double limit_s) {
    const auto t0 = clock_type::now();
    while (std::chrono::duration<double>(clock_type::now() - t0).count() < limit_s) {
      int status = 0;
      if (::waitpid(mpirun_, &status, WNOHANG) == mpirun_) {
        mpirun_ = 0;
        return {std::chrono::duration<double>(clock_type::now() - t0).count(),
                WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return {limit_s, -1};
  }

  fs::path dir_;
  std::string config_;
  pid_t mpirun_ = 0;
};

TEST_F(Faults, AKilledRankEndsTheRunWithinTheTimeout) {
  start();
  ASSERT_TRUE(wait_for_steps(2)) << slurp(dir_ / "out.txt");
  const pid_t victim = rank_pid(1);
  ASSERT_GT(victim, 0) << "rank 1 not found";
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const auto [seconds, rc] = wait_exit(60);
  EXPECT_NE(rc, -1) << "the run still hangs 60 s after kill -9 of rank 1";
  EXPECT_NE(rc, 0) << slurp(dir_ / "out.txt");
  EXPECT_LT(seconds, 20.0 + 5.0) << slurp(dir_ / "out.txt");
}

TEST_F(Faults, AStalledRankTimesOutNamingTheOperation) {
  start();
  ASSERT_TRUE(wait_for_steps(2)) << slurp(dir_ / "out.txt");
  const pid_t victim = rank_pid(1);
  ASSERT_GT(victim, 0) << "rank 1 not found";
  ASSERT_EQ(::kill(victim, SIGSTOP), 0);
  const auto [seconds, rc] = wait_exit(90);
  if (rc == -1) ::kill(victim, SIGKILL);
  ASSERT_NE(rc, -1) << "the run still hangs 90 s after rank 1 stopped";
  EXPECT_NE(rc, 0);
  EXPECT_LT(seconds, 20.0 + 15.0);
  const std::string out = slurp(dir_ / "out.txt");
  EXPECT_NE(out.find("timed out after 20 s waiting for"), std::string::npos) << out;
  EXPECT_NE(out.find("(rank 0)"), std::string::npos) << out;
}

}  // namespace
