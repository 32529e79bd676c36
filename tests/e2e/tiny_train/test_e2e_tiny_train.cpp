// configs/tiny.toml end to end through the command line: synth-arithmetic and preprocess make
// the data, vpmoe-host --config trains 30 steps (the validation loss falls by at least 30% from
// the first evaluation, as the README's run promises for 100), and --resume continues from the
// final checkpoint to step 35 without repeating a step; plot draws the curves. Then the same
// with analysis messages and [plugins] loss = "loss.span_ce": loss_reasoning and loss_final in
// metrics.jsonl and on the console; an unknown loss refused by name.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

struct Result {
  int rc;
  std::string out;
};

Result sh(const fs::path& dir, const std::string& args) {
  const fs::path out = dir / "out.txt";
  const std::string cmd = "cd '" + dir.string() + "' && '" + VPMOE_HOST_BIN + "' " + args + " > '" +
                          out.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(out);
  return {WEXITSTATUS(rc), std::string(std::istreambuf_iterator<char>(in), {})};
}

std::string run_toml(int iters) {
  return std::string("[run]\nmodel_config = \"") + VPMOE_SOURCE_DIR +
         "/configs/tiny.toml\"\ndir = \"run\"\n[tokenizer]\npath = \"" + VPMOE_SOURCE_DIR +
         "/data/tokenizer/o200k_base.tiktoken\"\n[data]\npaths = [\"data/train\"]\n"
         "valid_paths = [\"data/valid\"]\neval_interval = 10\n[train]\ntrain_iters = " +
         std::to_string(iters) + "\nlr_decay_iters = 35\n[log]\nprogress = false\n";
}

TEST(E2eTinyTrain, TrainsResumesAndTheValidationLossFalls) {
  const fs::path dir = fs::temp_directory_path() / ("vpmoe_e2e_tiny_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "data");
  std::ofstream(dir / "run.toml") << run_toml(30);  // preprocess takes the tokenizer from it
  for (const auto& [split, n, seed] : {std::tuple{"train", 4000, 1}, {"valid", 200, 2}}) {
    const std::string s = split;
    Result r = sh(dir, "synth-arithmetic --output data/" + s + ".jsonl --count " +
                           std::to_string(n) + " --seed " + std::to_string(seed));
    ASSERT_EQ(r.rc, 0) << r.out;
    r = sh(dir, "--config run.toml preprocess --input data/" + s + ".jsonl --output-prefix data/" +
                    s + " --format harmony --workers 2");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  const Result dry = sh(dir, "--dry-run --config run.toml");
  ASSERT_EQ(dry.rc, 0) << dry.out;
  EXPECT_FALSE(fs::exists(dir / "run/metrics.jsonl")) << "a dry run trains nothing";

  const Result train = sh(dir, "--config run.toml");
  ASSERT_EQ(train.rc, 0) << train.out;
  EXPECT_NE(train.out.find("trained 30 step(s)"), std::string::npos) << train.out;
  EXPECT_TRUE(fs::exists(dir / "run/checkpoints/step_00000030/model.safetensors"));

  std::ofstream(dir / "run.toml") << run_toml(35);
  const Result resumed = sh(dir, "--config run.toml --resume");
  ASSERT_EQ(resumed.rc, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("resumed from run/checkpoints/step_00000030 at iteration 30"),
            std::string::npos)
      << resumed.out;
  EXPECT_NE(resumed.out.find("trained 5 step(s)"), std::string::npos) << resumed.out;

  std::vector<double> valid;
  std::vector<int> steps;
  std::ifstream in(dir / "run/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("valid_loss"))
      valid.push_back(j["valid_loss"].get<double>());
    else
      steps.push_back(j["step"].get<int>());
  }
  ASSERT_EQ(steps.size(), 35u);
  for (int i = 0; i < 35; ++i) EXPECT_EQ(steps[std::size_t(i)], i + 1);
  ASSERT_EQ(valid.size(), 5u);  // steps 0, 10, 20, 30 and the resumed run's last, 35
  EXPECT_LT(valid.back(), 0.7 * valid.front())
      << "validation loss " << valid.front() << " -> " << valid.back();
  const Result plot = sh(dir, "plot run");
  ASSERT_EQ(plot.rc, 0) << plot.out;
  EXPECT_GT(fs::file_size(dir / "run/curves.png"), 1000u);
  fs::remove_all(dir);
}

TEST(E2eTinyTrain, SpanCeOnHarmonyDataLogsTheSpanLosses) {
  const fs::path dir = fs::temp_directory_path() / ("vpmoe_e2e_span_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "data");
  const std::string loss = "[plugins]\nloss = \"loss.span_ce\"\n[loss]\nreasoning_weight = 0.5\n";
  std::ofstream(dir / "run.toml") << run_toml(10) << loss;
  for (const auto& [split, n, seed] : {std::tuple{"train", 1000, 1}, {"valid", 100, 2}}) {
    const std::string s = split;
    Result r = sh(dir, "synth-arithmetic --analysis --output data/" + s + ".jsonl --count " +
                           std::to_string(n) + " --seed " + std::to_string(seed));
    ASSERT_EQ(r.rc, 0) << r.out;
    r = sh(dir, "--config run.toml preprocess --input data/" + s + ".jsonl --output-prefix data/" +
                    s + " --format harmony --workers 2");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  ASSERT_TRUE(fs::exists(dir / "data/train_span.idx"));
  const Result train = sh(dir, "--config run.toml");
  ASSERT_EQ(train.rc, 0) << train.out;
  EXPECT_NE(train.out.find("(reasoning "), std::string::npos) << train.out;
  EXPECT_NE(train.out.find("(final "), std::string::npos) << train.out;
  std::ifstream in(dir / "run/metrics.jsonl");
  int steps = 0;
  double first_final = 0, last_final = 0;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("valid_loss")) continue;
    ++steps;
    ASSERT_TRUE(j.contains("loss_reasoning") && j.contains("loss_final")) << line;
    const double lr = j["loss_reasoning"], lf = j["loss_final"], l = j["loss"];
    EXPECT_NEAR(l, 0.5 * lr + lf, 1e-5 * l) << line;
    (steps == 1 ? first_final : last_final) = lf;
  }
  EXPECT_EQ(steps, 10);
  EXPECT_LT(last_final, first_final);

  std::ofstream(dir / "run.toml") << run_toml(10) << "[plugins]\nloss = \"loss.nope\"\n";
  const Result bad = sh(dir, "--config run.toml");
  EXPECT_NE(bad.rc, 0) << bad.out;
  EXPECT_NE(bad.out.find("loss.nope"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("[plugins] loss"), std::string::npos) << bad.out;
  fs::remove_all(dir);
}

}  // namespace
