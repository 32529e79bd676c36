#pragma once
// vpmoe-host as a user runs it: a test directory of its own and the binary run from the source
// tree, its exit code, stdout and stderr apart.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace vpmoe::testing {

namespace fs = std::filesystem;

struct Result {
  int rc = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class HostCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("vpmoe_cli_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs "env vpmoe-host args" from the source tree (where the default tokenizer asset path
  // data/tokenizer/... resolves, as for a user in the checkout), stdout and stderr apart.
  Result run(const std::string& args, const std::string& env = "") {
    return run_in(dir_, args, env);
  }
  // The same, its outputs kept in dir.
  static Result run_in(const fs::path& dir, const std::string& args, const std::string& env = "") {
    fs::path out = dir / "stdout", err = dir / "stderr";
    std::string cmd =
        "cd '" + std::string(VPMOE_SOURCE_DIR) +
        "' && env -u RANK -u WORLD_SIZE -u OMPI_COMM_WORLD_RANK -u OMPI_COMM_WORLD_SIZE " + env +
        " '" + VPMOE_HOST_BIN + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
    int status = std::system(cmd.c_str());
    Result r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  fs::path dir_;
};

}  // namespace vpmoe::testing
