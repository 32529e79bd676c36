// score and evaluate through the command line, in the loop they serve (on-policy distillation
// needs the student's and teacher's log-probabilities of the same tokens):
//   synth-arithmetic + preprocess --format harmony -> a teacher trained on configs/tiny.toml
//   -> score (the teacher's logprobs of its training conversations, every field kept)
//   -> preprocess --format tokens with teacher_logp -> a student trained with
//   loss.kd_weighted_ce -> evaluate, whose loss on the validation samples the student's run
//   evaluated is the run's last valid_loss exactly -> greedy generate, which score's argmax
//   reproduces token for token; score of Harmony text; the commands' errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vpmoe/indexed_dataset.h"

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

// configs/tiny.toml with this run's directory, data and steps; extra adds sections.
std::string run_toml(const std::string& name, const std::string& train, int iters,
                     const std::string& extra = "") {
  return std::string("[run]\nmodel_config = \"") + VPMOE_SOURCE_DIR +
         "/configs/tiny.toml\"\ndir = \"" + name + "\"\n[tokenizer]\npath = \"" + VPMOE_SOURCE_DIR +
         "/data/tokenizer/o200k_base.tiktoken\"\n[data]\npaths = [\"" + train +
         "\"]\nvalid_paths = [\"data/valid\"]\neval_interval = 3\n[train]\ntrain_iters = " +
         std::to_string(iters) + "\nlr_decay_iters = " + std::to_string(iters) +
         "\n[log]\nprogress = false\n" + extra;
}

std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string l; std::getline(in, l);) out.push_back(nlohmann::json::parse(l));
  return out;
}

class E2eInfer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vpmoe_e2e_infer_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(E2eInfer, TeacherScoresStudentTrainsOnThemAndEvaluates) {
  std::ofstream(dir_ / "teacher.toml") << run_toml("teacher", "data/train", 6);
  for (const auto& [split, n, seed] : {std::tuple{"train", 200, 1}, {"valid", 60, 2}}) {
    const std::string s = split;
    Result r = sh(dir_, "synth-arithmetic --output data/" + s + ".jsonl --count " +
                            std::to_string(n) + " --seed " + std::to_string(seed));
    ASSERT_EQ(r.rc, 0) << r.out;
    r = sh(dir_, "--config teacher.toml preprocess --input data/" + s +
                     ".jsonl --output-prefix data/" + s + " --format harmony --workers 2");
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  Result r = sh(dir_, "--config teacher.toml");
  ASSERT_EQ(r.rc, 0) << r.out;

  // The teacher's training conversations as token lines (ids, mask, span, a line number).
  const std::int64_t positions = 64;  // tiny.toml's max_sequence_length
  {
    vpmoe::IndexedDatasetReader tok((dir_ / "data/train_tokens").string()),
        mask((dir_ / "data/train_lossmask").string()), span((dir_ / "data/train_span").string());
    std::ofstream out(dir_ / "kd_in.jsonl");
    for (std::size_t d = 0; d < tok.sequences(); ++d) {
      const auto t = tok.sequence<std::int32_t>(d);
      if (std::int64_t(t.size()) > positions + 1) continue;
      const auto m = mask.sequence<std::uint8_t>(d);
      const auto s = span.sequence<std::uint8_t>(d);
      out << nlohmann::json{{"doc", d},
                            {"ids", std::vector<std::int32_t>(t.begin(), t.end())},
                            {"loss_mask", std::vector<int>(m.begin(), m.end())},
                            {"span", std::vector<int>(s.begin(), s.end())}}
                 .dump()
          << "\n";
    }
  }
  r = sh(dir_,
         "score --checkpoint teacher/checkpoints --input kd_in.jsonl --output kd_scored.jsonl "
         "--batch-size 16");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;
  const auto in = read_jsonl(dir_ / "kd_in.jsonl"), scored = read_jsonl(dir_ / "kd_scored.jsonl");
  ASSERT_EQ(scored.size(), in.size());
  ASSERT_GT(in.size(), 150u);
  {
    std::ofstream out(dir_ / "kd.jsonl");
    for (std::size_t i = 0; i < in.size(); ++i) {
      const auto& l = scored[i];
      ASSERT_EQ(l["doc"], in[i]["doc"]);
      ASSERT_EQ(l["ids"], in[i]["ids"]);
      ASSERT_EQ(l["span"], in[i]["span"]);
      ASSERT_EQ(l["logprobs"].size(), l["ids"].size() - 1);
      ASSERT_EQ(l["argmax"].size(), l["ids"].size() - 1);
      // Token t + 1's teacher log-probability is logprobs[t]; the first token has none.
      std::vector<double> logp{0.0};
      for (const auto& v : l["logprobs"]) logp.push_back(v.get<double>());
      nlohmann::json k = l;
      k["teacher_logp"] = logp;
      out << k.dump() << "\n";
    }
  }
  r = sh(dir_,
         "--config teacher.toml preprocess --input kd.jsonl --output-prefix data/kd "
         "--format tokens --workers 2");
  ASSERT_EQ(r.rc, 0) << r.out;
  ASSERT_TRUE(fs::exists(dir_ / "data/kd_teacher_logp.idx"));

  std::ofstream(dir_ / "student.toml")
      << run_toml("student", "data/kd", 6, "[plugins]\nloss = \"loss.kd_weighted_ce\"\n");
  r = sh(dir_, "--config student.toml");
  ASSERT_EQ(r.rc, 0) << r.out;
  double valid_loss = 0;
  for (const auto& l : read_jsonl(dir_ / "student/metrics.jsonl"))
    if (l.contains("valid_loss")) valid_loss = l["valid_loss"];
  ASSERT_GT(valid_loss, 0);

  // tiny.toml validates eval_iters 4 global batches of 4 = 4 batches of micro_batch_size 4.
  r = sh(dir_,
         "evaluate --checkpoint student/checkpoints --data data/valid --max-batches 4 "
         "--output eval.json");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::ifstream ej(dir_ / "eval.json");
  const auto e = nlohmann::json::parse(ej);
  EXPECT_EQ(e["step"], 6);
  EXPECT_EQ(e["sequences"], 16);
  EXPECT_EQ(e["loss"].get<double>(), valid_loss);
  EXPECT_DOUBLE_EQ(e["perplexity"].get<double>(), std::exp(valid_loss));
  EXPECT_GT(e["spans"]["final"]["tokens"].get<double>(), 0);
  EXPECT_EQ(e["datasets"]["data/valid"]["loss"], e["loss"]);
  // Two datasets (the tokens format's too), to stdout.
  r = sh(dir_,
         "evaluate --checkpoint student/checkpoints --data data/valid data/kd --max-batches 2");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("\"perplexity\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"data/kd\""), std::string::npos) << r.out;

  // generate: greedy through the KV cache (40 new tokens pass tiny.toml's window of 16, so the
  // TPA rings wrap) agrees token for token with score's argmax on prompt + completion.
  r = sh(dir_,
         "generate --checkpoint student/checkpoints --prompt 'What is 2 + 2?' --temperature 0 "
         "--max-new-tokens 40 --json --log-level warn");
  ASSERT_EQ(r.rc, 0) << r.out;
  const auto g = nlohmann::json::parse(r.out);
  const auto prompt_ids = g["prompt_ids"].get<std::vector<std::int32_t>>();
  const auto new_ids = g["ids"].get<std::vector<std::int32_t>>();
  ASSERT_GE(new_ids.size(), 1u);
  ASSERT_EQ(new_ids.size() == 40, g["stop"] == "max_new_tokens") << r.out;
  std::vector<std::int32_t> all = prompt_ids;
  all.insert(all.end(), new_ids.begin(), new_ids.end());
  std::ofstream(dir_ / "gen.jsonl") << nlohmann::json{{"ids", all}}.dump() << "\n";
  r = sh(dir_,
         "score --checkpoint student/checkpoints --input gen.jsonl --output gen_scored.jsonl");
  ASSERT_EQ(r.rc, 0) << r.out;
  const auto argmax = read_jsonl(dir_ / "gen_scored.jsonl")[0]["argmax"];
  for (std::size_t i = 0; i < new_ids.size(); ++i)
    EXPECT_EQ(argmax[prompt_ids.size() - 1 + i], new_ids[i]) << "generated token " << i;
  // Streamed text is the JSON's text; the log reports the decode rate.
  r = sh(dir_,
         "generate --checkpoint student/checkpoints --prompt 'What is 2 + 2?' --temperature 0 "
         "--max-new-tokens 40");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find(g["text"].get<std::string>()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decode"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;

  // Harmony text, its other fields kept.
  std::ofstream(dir_ / "text.jsonl")
      << "{\"id\": 7, \"text\": \"<|start|>user<|message|>What is 2 + 2?<|end|><|start|>"
         "assistant<|channel|>final<|message|>4<|return|>\"}\n";
  r = sh(dir_,
         "score --checkpoint student/checkpoints/step_00000006 --input text.jsonl "
         "--output text_out.jsonl");
  ASSERT_EQ(r.rc, 0) << r.out;
  const auto t = read_jsonl(dir_ / "text_out.jsonl");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]["id"], 7);
  EXPECT_GT(t[0]["logprobs"].size(), 10u);
  EXPECT_EQ(t[0]["argmax"].size(), t[0]["logprobs"].size());
}

TEST_F(E2eInfer, CommandErrors) {
  const Result help = sh(dir_, "--help");
  EXPECT_NE(help.out.find("score"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("evaluate"), std::string::npos) << help.out;
  Result r = sh(dir_, "score --input a.jsonl --output b.jsonl");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--checkpoint DIR is required"), std::string::npos) << r.out;
  r = sh(dir_, "evaluate --checkpoint x");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--data PREFIX... is required"), std::string::npos) << r.out;
  r = sh(dir_, "score --checkpoint x --input a --output b --device tpu");
  EXPECT_EQ(r.rc, 2) << r.out;
  r = sh(dir_, "score --checkpoint nowhere --input a --output b");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("nowhere"), std::string::npos) << r.out;
  EXPECT_EQ(sh(dir_, "score --help").rc, 0);
  EXPECT_EQ(sh(dir_, "evaluate --help").rc, 0);
  EXPECT_EQ(sh(dir_, "generate --help").rc, 0);
  EXPECT_NE(help.out.find("generate"), std::string::npos) << help.out;
  r = sh(dir_, "generate --checkpoint x");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("exactly one of --prompt"), std::string::npos) << r.out;
  r = sh(dir_, "generate --checkpoint x --prompt hi --temperature -1");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--temperature"), std::string::npos) << r.out;
  r = sh(dir_, "generate --checkpoint x --input a.jsonl");
  EXPECT_EQ(r.rc, 2) << r.out;
}

}  // namespace
