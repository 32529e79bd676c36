#pragma once
// The data commands run as a user runs them: the vpmoe-host binary from the source tree (where
// data/tokenizer holds the asset), each test in its own temporary folder.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vpmoe::testing {

namespace fs = std::filesystem;

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class DataCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vpmoe_data_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  struct Result {
    int rc;
    std::string out, err;
  };
  // Runs from the source tree, where data/tokenizer holds the asset.
  Result run(const std::string& args) {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string cmd = "cd '" + std::string(VPMOE_SOURCE_DIR) + "' && '" + VPMOE_HOST_BIN +
                            "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return path(name);
  }
  // The first n ordinary cases of the tiktoken parity file: {"text", "mode"} lines and ids.
  std::vector<nlohmann::json> parity_cases(std::size_t n) {
    std::ifstream in(std::string(VPMOE_SOURCE_DIR) +
                     "/tests/data/tokenizer/parity_o200k_harmony.jsonl");
    std::vector<nlohmann::json> out;
    for (std::string l; out.size() < n && std::getline(in, l);) {
      auto j = nlohmann::json::parse(l);
      if (j["mode"] == "ordinary") out.push_back(j);
    }
    return out;
  }
  fs::path dir_;
};

}  // namespace vpmoe::testing
