#pragma once
// RunTest under mpirun: every rank keeps its own data directory, and the checkpoints go to one
// directory all ranks share (rank 0's pid names it), as a real run's [checkpoint] dir must be.
#include <unistd.h>

#include "host/train/run_fixture.h"
#include "vpmoe/comm.h"

namespace vpmoe::testing {

inline std::shared_ptr<Comm> mpi_world() {
  static std::shared_ptr<Comm> w = mpi_world_comm();
  return w;
}

class MpiRunTest : public RunTest {
 protected:
  void SetUp() override {
    RunTest::SetUp();
    std::int64_t pid = ::getpid();
    mpi_world()->broadcast_bytes(
        std::span<std::byte>(reinterpret_cast<std::byte*>(&pid), sizeof pid), 0);
    shared_ = fs::temp_directory_path() /
              ("vpmoe_shared_" + std::to_string(pid) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    if (mpi_world()->rank() == 0) fs::create_directories(shared_);
    mpi_world()->barrier();
  }
  void TearDown() override {
    mpi_world()->barrier();
    if (mpi_world()->rank() == 0) fs::remove_all(shared_);
    RunTest::TearDown();
  }
  // "[checkpoint] dir" of run `name` in the shared directory.
  std::string checkpoint_section(const std::string& name) const {
    return "[checkpoint]\ndir = \"" + (shared_ / name).string() + "\"\n";
  }

  fs::path shared_;
};

}  // namespace vpmoe::testing
