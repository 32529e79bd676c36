// vpmoe-host as a user runs it: exit codes (0 ok, 1 failure, 2 usage/config), messages, JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "host/cli/host_cli_fixture.h"
#include "vpmoe/version.h"

namespace vpmoe::testing {
namespace {

TEST_F(HostCli, Version) {
  Result r = run("--version");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(std::string("vpmoe-host ") + VPMOE_VERSION), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(std::string("build tag: ") + VPMOE_BUILD_TAG), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CUDA: "), std::string::npos) << r.out;
}

// Commands that need no GPU start no CUDA: the runtime looks for the driver (libcuda) on its
// first call, and the dynamic loader's trace (LD_DEBUG=libs, on stderr) shows any search.
TEST_F(HostCli, CommandsWithoutAGpuLeaveTheDriverAlone) {
  const fs::path text = dir_ / "text.txt", docs = dir_ / "docs.jsonl";
  std::ofstream(text) << "Hello, world.\n";
  std::ofstream(docs) << "{\"text\": \"Hello, world.\"}\n";
  const std::string tok = "tokenize --count --input '" + text.string() + "'";
  const std::string pre = "preprocess --format text --input '" + docs.string() +
                          "' --output-prefix '" + (dir_ / "ds").string() + "'";
  for (const std::string& args :
       {std::string("--version"), std::string("--help"), std::string("plugins"), tok, pre}) {
    Result r = run(args, "LD_DEBUG=libs");
    EXPECT_EQ(r.rc, 0) << args << ": " << r.err;
    EXPECT_EQ(r.err.find("libcuda.so"), std::string::npos) << args;
    EXPECT_NE(r.err.find("libc.so"), std::string::npos) << args << ": no loader trace";
  }
}

TEST_F(HostCli, Help) {
  Result r = run("--help");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Usage: vpmoe-host --config RUN.toml", 0), 0u) << r.out;
  for (const char* s : {"--plugin-path", "--version", "--log-level", "plugins", "Exit status"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  Result p = run("plugins --help");
  EXPECT_EQ(p.rc, 0);
  EXPECT_EQ(p.out.rfind("Usage: vpmoe-host plugins [--json]", 0), 0u) << p.out;
  EXPECT_EQ(run("--help plugins").out, p.out);
}

TEST_F(HostCli, UsageErrorsExit2) {
  Result none = run("");
  EXPECT_EQ(none.rc, 2);
  EXPECT_NE(none.err.find("nothing to do"), std::string::npos) << none.err;
  Result opt = run("--no-such-option");
  EXPECT_EQ(opt.rc, 2);
  EXPECT_NE(opt.err.find("--no-such-option"), std::string::npos) << opt.err;
  Result cmd = run("no-such-command");
  EXPECT_EQ(cmd.rc, 2);
  EXPECT_NE(cmd.err.find("unknown command \"no-such-command\""), std::string::npos) << cmd.err;
  EXPECT_EQ(run("plugins --bogus").rc, 2);
  EXPECT_EQ(run("--config").rc, 2);  // missing value
  EXPECT_EQ(run("--log-level loud --version").rc, 2);
}

TEST_F(HostCli, BadConfigExits2WithPosition) {
  std::string bad = write("bad.toml", "[model]\nnum_layers = 0\n");
  Result r = run("--config '" + bad + "'");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find(bad + ":2:14: [model].num_layers: expected an integer >= 1, found an "
                             "integer (0)"),
            std::string::npos)
      << r.err;
  std::string syntax = write("syntax.toml", "[model\n");
  Result s = run("--config '" + syntax + "'");
  EXPECT_EQ(s.rc, 2);
  EXPECT_NE(s.err.find(syntax + ":1:"), std::string::npos) << s.err;
  Result missing = run("--config '" + (dir_ / "missing.toml").string() + "'");
  EXPECT_EQ(missing.rc, 2);
  EXPECT_NE(missing.err.find("missing.toml: cannot read"), std::string::npos) << missing.err;
}

TEST_F(HostCli, GoodConfigPrintsTheModelSummary) {
  Result r =
      run(std::string("--dry-run --config ") + VPMOE_SOURCE_DIR + "/configs/run_vpmoe_dev.toml");
  EXPECT_EQ(r.rc, 0) << r.err;
  for (const char* s : {"model: 8 layers, hidden 1024", "global layers: 4, 8", "dense layers: 1",
                        "MoE layers:   2-8", "attention LLLGLLLG", "ffn       DMMMMMMM",
                        ", recompute none; optimizer ",
                        "dry run: the configuration and plugins are valid; nothing was trained"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST_F(HostCli, TheSummaryShowsTheRecomputeMode) {
  const std::string cfg =
      write("run.toml", std::string("[run]\nmodel_config = \"") + VPMOE_SOURCE_DIR +
                            "/configs/vpmoe_dev.toml\"\n[train]\nrecompute = "
                            "\"full\"\n");
  Result r = run("--dry-run --config '" + cfg + "'");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(", recompute full; optimizer "), std::string::npos) << r.out;
  const std::string bad =
      write("bad.toml", std::string("[run]\nmodel_config = \"") + VPMOE_SOURCE_DIR +
                            "/configs/vpmoe_dev.toml\"\n[train]\nrecompute = "
                            "\"selective\"\n");
  Result e = run("--dry-run --config '" + bad + "'");
  EXPECT_EQ(e.rc, 2);
  EXPECT_NE(e.err.find(bad + ":4:13: [train].recompute: expected one of \"none\", \"moe\", "
                             "\"attention\", \"full\", found a string (\"selective\")"),
            std::string::npos)
      << e.err;
}

// The tokenizer is built at start-up: a vocabulary other than its own fails at once.
TEST_F(HostCli, WrongVocabularyFailsAtStartUp) {
  std::string cfg = write("run.toml", std::string("[run]\nmodel_config = \"") + VPMOE_SOURCE_DIR +
                                          "/configs/vpmoe_dev.toml\"\n[tokenizer]\nvocab_size = "
                                          "200064\n");
  Result r = run("--config '" + cfg + "'");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find(cfg + ":4:14: [tokenizer].vocab_size: tokenizer.o200k_harmony has a "
                             "padded vocabulary of 201088, found 200064"),
            std::string::npos)
      << r.err;
}

TEST_F(HostCli, PluginsJsonIsValid) {
  std::string junk = write("libjunk.so", "not a shared library");
  Result r =
      run("plugins --json --plugin-path '" + dir_.string() + "' --plugin-path '" + junk + "'");
  EXPECT_EQ(r.rc, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);  // throws (fails the test) when invalid
  ASSERT_TRUE(j.is_object());
  ASSERT_TRUE(j["plugins"].is_array());
  ASSERT_TRUE(j["errors"].is_array());
  for (const auto& p : j["plugins"])
    for (const char* k : {"name", "kind", "file", "plugin", "version"})
      EXPECT_TRUE(p.contains(k)) << p.dump();
  bool junk_reported = false;
  for (const auto& e : j["errors"]) {
    junk_reported |= e["file"].get<std::string>().find("libjunk.so") != std::string::npos;
    EXPECT_TRUE(e["file"].is_string());
    EXPECT_TRUE(e["message"].is_string());
    EXPECT_NE(r.err.find(e["file"].get<std::string>()), std::string::npos);  // also a warning
  }
  EXPECT_TRUE(junk_reported) << r.out;  // a bad file is an error entry, not a failure
  EXPECT_EQ(j["search_path"][0], dir_.string());
}

TEST_F(HostCli, PluginsTable) {
  Result r = run("plugins");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("NAME", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("spec name(s) from"), std::string::npos) << r.out;
}

TEST_F(HostCli, LogPrefixCarriesTheRank) {
  std::string bad = write("bad.toml", "[model]\nnum_layers = 0\n");
  EXPECT_NE(run("--config '" + bad + "'").err.find("[vpmoe r0/1] [error] "), std::string::npos);
  EXPECT_NE(run("--config '" + bad + "'", "RANK=3 WORLD_SIZE=8").err.find("[vpmoe r3/8] "),
            std::string::npos);
  EXPECT_NE(run("--config '" + bad + "'", "OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2")
                .err.find("[vpmoe r1/2] "),
            std::string::npos);
}

// The layout of the launch is printed once, and a world that tp x ep cannot fill, or tensor
// parallelism, is refused at start-up with the key's position (exit 2).
TEST_F(HostCli, ParallelLayoutIsPrintedOrRefused) {
  const std::string locked = std::string(VPMOE_SOURCE_DIR) + "/configs/run_vpmoe.toml";
  Result ok = run("--dry-run --config " + locked, "RANK=0 WORLD_SIZE=16");
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_NE(ok.err.find("parallel: world 16, tp 1, dp 16, ep 8 (expert dp 2); experts per rank 32 "
                        "of 256"),
            std::string::npos)
      << ok.err;
  EXPECT_EQ(run("--dry-run --config " + locked, "RANK=1 WORLD_SIZE=16").err.find("parallel: "),
            std::string::npos);  // rank 0 alone prints it

  Result odd = run("--dry-run --config " + locked, "RANK=0 WORLD_SIZE=12");
  EXPECT_EQ(odd.rc, 2);
  EXPECT_NE(odd.err.find(locked + ":29:"), std::string::npos) << odd.err;
  EXPECT_NE(odd.err.find("[parallel].expert_model_parallel_size: this launch has 12 process(es)"),
            std::string::npos)
      << odd.err;

  const std::string tp =
      write("tp.toml", std::string("[run]\nmodel_config = \"") + VPMOE_SOURCE_DIR +
                           "/configs/vpmoe_dev.toml\"\n[parallel]\n"
                           "tensor_model_parallel_size = 2\n");
  Result t = run("--dry-run --config '" + tp + "'");
  EXPECT_EQ(t.rc, 2);
  EXPECT_NE(t.err.find(tp + ":4:30: "), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("[parallel].tensor_model_parallel_size: tensor parallelism is not "
                       "supported (expected 1), found 2"),
            std::string::npos)
      << t.err;
}

}  // namespace
}  // namespace vpmoe::testing
