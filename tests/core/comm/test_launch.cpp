// detect_launch() from set environments, the device of a local rank, and the launches that
// world_comm() refuses before it touches MPI, NCCL or the network.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "comm/launch.h"
#include "comm/nccl_backend.h"
#include "vpmoe/error.h"

namespace vpmoe::testing {
namespace {

// Every variable detect_launch() reads, cleared for the test and restored after it.
class LaunchEnv : public ::testing::Test {
 protected:
  static constexpr const char* kVars[] = {"OMPI_COMM_WORLD_RANK",
                                          "OMPI_COMM_WORLD_SIZE",
                                          "OMPI_COMM_WORLD_LOCAL_RANK",
                                          "PMI_RANK",
                                          "PMI_SIZE",
                                          "PMIX_RANK",
                                          "MPI_LOCALRANKID",
                                          "PMI_LOCAL_RANK",
                                          "SLURM_PROCID",
                                          "SLURM_NTASKS",
                                          "SLURM_STEP_NUM_TASKS",
                                          "SLURM_NPROCS",
                                          "SLURM_LOCALID",
                                          "RANK",
                                          "WORLD_SIZE",
                                          "LOCAL_RANK",
                                          "MASTER_ADDR",
                                          "MASTER_PORT"};
  void SetUp() override {
    for (const char* v : kVars) {
      if (const char* old = std::getenv(v)) saved_[v] = old;
      unsetenv(v);
    }
  }
  void TearDown() override {
    for (const char* v : kVars) unsetenv(v);
    for (const auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
  }
  static void set(std::map<std::string, std::string> vars) {
    for (const auto& [k, v] : vars) setenv(k.c_str(), v.c_str(), 1);
  }
  // The error detect_launch() throws (empty when it does not).
  static std::string launch_error() {
    try {
      detect_launch();
    } catch (const Error& e) {
      return e.what();
    }
    return {};
  }

 private:
  std::map<std::string, std::string> saved_;
};

TEST_F(LaunchEnv, NothingSetIsOneProcess) {
  const Launch l = detect_launch();
  EXPECT_EQ(l.launcher, "none");
  EXPECT_EQ(l.rank, 0);
  EXPECT_EQ(l.world, 1);
  EXPECT_EQ(l.local_rank, 0);
  EXPECT_TRUE(l.master_addr.empty());
  EXPECT_EQ(l.master_port, 0);
}

TEST_F(LaunchEnv, TorchrunStyleVariables) {
  set({{"RANK", "5"},
       {"WORLD_SIZE", "8"},
       {"LOCAL_RANK", "1"},
       {"MASTER_ADDR", "node-0"},
       {"MASTER_PORT", "29511"}});
  const Launch l = detect_launch();
  EXPECT_EQ(l.launcher, "torchrun");
  EXPECT_EQ(l.rank, 5);
  EXPECT_EQ(l.world, 8);
  EXPECT_EQ(l.local_rank, 1);
  EXPECT_EQ(l.master_addr, "node-0");
  EXPECT_EQ(l.master_port, 29511);
}

TEST_F(LaunchEnv, TorchrunOfOneNeedsNoLocalRank) {
  set({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  const Launch l = detect_launch();
  EXPECT_EQ(l.world, 1);
  EXPECT_EQ(l.local_rank, 0);
}

TEST_F(LaunchEnv, MalformedOrMissingVariablesAreNamed) {
  set({{"RANK", "abc"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}});
  EXPECT_NE(launch_error().find("RANK=abc is not a whole number"), std::string::npos)
      << launch_error();
  set({{"RANK", "2"}});
  EXPECT_NE(launch_error().find("RANK=2 is out of range [0, 1]"), std::string::npos)
      << launch_error();
  set({{"RANK", "1x"}});
  EXPECT_NE(launch_error().find("RANK=1x"), std::string::npos) << launch_error();
  set({{"RANK", "-1"}});
  EXPECT_NE(launch_error().find("RANK=-1"), std::string::npos) << launch_error();
  set({{"RANK", "1"}, {"MASTER_PORT", "70000"}});
  EXPECT_NE(launch_error().find("MASTER_PORT=70000"), std::string::npos) << launch_error();
  set({{"MASTER_PORT", "port"}});
  EXPECT_NE(launch_error().find("MASTER_PORT=port"), std::string::npos) << launch_error();
  set({{"MASTER_PORT", "29500"}, {"WORLD_SIZE", "0"}});
  EXPECT_NE(launch_error().find("WORLD_SIZE=0"), std::string::npos) << launch_error();
  unsetenv("WORLD_SIZE");
  EXPECT_NE(launch_error().find("WORLD_SIZE is not set"), std::string::npos) << launch_error();
  unsetenv("RANK");
  set({{"WORLD_SIZE", "2"}});
  EXPECT_NE(launch_error().find("RANK is not set"), std::string::npos) << launch_error();
  set({{"RANK", "1"}});
  unsetenv("LOCAL_RANK");
  EXPECT_NE(launch_error().find("LOCAL_RANK is not set"), std::string::npos) << launch_error();
}

TEST_F(LaunchEnv, SlurmComesBeforeTorchrunStyle) {
  set({{"SLURM_PROCID", "3"},
       {"SLURM_NTASKS", "16"},
       {"SLURM_LOCALID", "3"},
       {"MASTER_ADDR", "gpu-17"},
       {"MASTER_PORT", "29600"},
       {"RANK", "0"},
       {"WORLD_SIZE", "1"}});
  Launch l = detect_launch();
  EXPECT_EQ(l.launcher, "slurm");
  EXPECT_EQ(l.rank, 3);
  EXPECT_EQ(l.world, 16);
  EXPECT_EQ(l.local_rank, 3);
  EXPECT_EQ(l.master_addr, "gpu-17");
  EXPECT_EQ(l.master_port, 29600);
  // An srun step's own size wins over the allocation's.
  set({{"SLURM_STEP_NUM_TASKS", "8"}});
  EXPECT_EQ(detect_launch().world, 8);
  set({{"SLURM_PROCID", "8"}});
  EXPECT_NE(launch_error().find("SLURM_PROCID=8"), std::string::npos) << launch_error();
  unsetenv("SLURM_STEP_NUM_TASKS");
  unsetenv("SLURM_NTASKS");
  EXPECT_NE(launch_error().find("SLURM_NTASKS is not set"), std::string::npos) << launch_error();
}

TEST_F(LaunchEnv, MpiComesFirst) {
  // srun --mpi=pmix sets both PMIx's and Slurm's variables: MPI owns the launch.
  set({{"OMPI_COMM_WORLD_RANK", "2"},
       {"OMPI_COMM_WORLD_SIZE", "4"},
       {"OMPI_COMM_WORLD_LOCAL_RANK", "0"},
       {"SLURM_PROCID", "0"},
       {"SLURM_NTASKS", "4"},
       {"RANK", "0"},
       {"WORLD_SIZE", "1"}});
  Launch l = detect_launch();
  EXPECT_EQ(l.launcher, "mpi");
  EXPECT_EQ(l.rank, 2);
  EXPECT_EQ(l.world, 4);
  EXPECT_EQ(l.local_rank, 0);
  set({{"OMPI_COMM_WORLD_SIZE", "x4"}});
  EXPECT_NE(launch_error().find("OMPI_COMM_WORLD_SIZE=x4"), std::string::npos) << launch_error();
}

TEST_F(LaunchEnv, MpichAndPmixVariables) {
  set({{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}, {"MPI_LOCALRANKID", "1"}});
  Launch l = detect_launch();
  EXPECT_EQ(l.launcher, "mpi");
  EXPECT_EQ(l.rank, 1);
  EXPECT_EQ(l.world, 2);
  EXPECT_EQ(l.local_rank, 1);
  unsetenv("PMI_SIZE");
  EXPECT_NE(launch_error().find("PMI_SIZE is not set"), std::string::npos) << launch_error();
  unsetenv("PMI_RANK");
  set({{"PMIX_RANK", "3"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "1"}});
  l = detect_launch();
  EXPECT_EQ(l.launcher, "mpi");
  EXPECT_EQ(l.rank, 3);
  EXPECT_EQ(l.world, 4);
}

TEST(LaunchDevice, LocalRankPicksTheDevice) {
  Launch l;
  l.launcher = "torchrun", l.world = 16, l.local_rank = 3;
  EXPECT_EQ(local_cuda_device(l, 8), 3);
  EXPECT_EQ(local_cuda_device(l, 1), 0);  // one GPU per process, bound by the launcher
  EXPECT_THROW(local_cuda_device(l, 2), Error);
}

std::string world_comm_error(const Launch& l, Device d, const std::string& backend) {
  try {
    world_comm(l, d, backend);
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

Launch torchrun(int rank, int world) {
  Launch l;
  l.launcher = "torchrun", l.rank = rank, l.world = world, l.local_rank = rank;
  return l;
}

TEST(WorldComm, OneProcessIsTheSingleComm) {
  for (const char* b : {"auto", "none"}) {
    auto c = world_comm(Launch{}, Device::cpu(), b);
    EXPECT_EQ(c->backend(), "single");
    EXPECT_EQ(c->size(), 1);
  }
}

TEST(WorldComm, RefusesWhatCannotWork) {
  std::string e = world_comm_error(torchrun(0, 2), Device::cpu(), "none");
  EXPECT_NE(e.find("runs one process"), std::string::npos) << e;
  // A CPU run of several processes needs mpirun.
  for (const char* b : {"auto", "mpi"}) {
    e = world_comm_error(torchrun(1, 4), Device::cpu(), b);
    if (mpi_available())
      EXPECT_NE(e.find("start them with mpirun -np 4"), std::string::npos) << e;
    else
      EXPECT_NE(e.find("no MPI"), std::string::npos) << e;
  }
  e = world_comm_error(torchrun(0, 2), Device::cpu(), "nccl");
  EXPECT_NE(e.find("needs a CUDA device"), std::string::npos) << e;
  e = world_comm_error(Launch{}, Device::cpu(), "gloo");
  EXPECT_NE(e.find("unknown communication backend \"gloo\""), std::string::npos) << e;
  // NCCL without MPI meets at MASTER_ADDR:MASTER_PORT (checked before any CUDA call).
  e = world_comm_error(torchrun(1, 2), Device::cuda(0), "nccl");
  if (nccl_available())
    EXPECT_NE(e.find("MASTER_ADDR is not set"), std::string::npos) << e;
  else
    EXPECT_NE(e.find("no NCCL"), std::string::npos) << e;
  Launch l = torchrun(1, 2);
  l.master_addr = "localhost";
  e = world_comm_error(l, Device::cuda(0), "auto");
  if (nccl_available()) EXPECT_NE(e.find("MASTER_PORT is not set"), std::string::npos) << e;
}

TEST(WorldComm, NcclEntryPointsSayWhenTheBuildHasNone) {
  if (nccl_available()) GTEST_SKIP() << "this build has NCCL";
  EXPECT_THROW(nccl_unique_id(), Error);
  EXPECT_THROW(nccl_comm({}, 0, 1, Device::cuda(0)), Error);
}

}  // namespace
}  // namespace vpmoe::testing
