// tokenize / detokenize / preprocess through the vpmoe-host binary: contracts, worker-count
// independence, and that a bad line leaves no dataset behind.
#include "host/data_cli/data_cli_fixture.h"
#include "vpmoe/indexed_dataset.h"

namespace {

using namespace vpmoe::testing;

TEST_F(DataCli, TokenizeGivesTiktokensIdsAndDetokenizeInvertsIt) {
  const auto cases = parity_cases(200);
  std::string in;
  for (const auto& c : cases) in += nlohmann::json{{"text", c["text"]}}.dump() + "\n";
  in += R"({"text": "a<|end|>b", "mode": "all"})"
        "\n";
  write("in.jsonl", in);
  auto r = run("tokenize --input " + path("in.jsonl") + " --output " + path("ids.jsonl"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto out = lines_of(slurp(path("ids.jsonl")));
  ASSERT_EQ(out.size(), cases.size() + 1);
  for (std::size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(nlohmann::json::parse(out[i])["ids"], cases[i]["ids"]) << cases[i]["text"];
  EXPECT_EQ(nlohmann::json::parse(out.back())["ids"][1], 200007);

  r = run("detokenize --input " + path("ids.jsonl") + " --output " + path("back.jsonl"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto back = lines_of(slurp(path("back.jsonl")));
  ASSERT_EQ(back.size(), out.size());
  for (std::size_t i = 0; i < cases.size(); ++i)
    EXPECT_EQ(nlohmann::json::parse(back[i])["text"], cases[i]["text"]);
}

TEST_F(DataCli, BadLinesAreNamed) {
  write("in.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"x\", \"mode\": \"some\"}\n");
  auto r = run("tokenize --input " + path("in.jsonl") + " --output " + path("o.jsonl"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("in.jsonl:2: expected \"mode\""), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("o.jsonl")));

  write("ids.jsonl", "{\"ids\": [1, 2]}\n{\"ids\": [201088]}\n");
  r = run("detokenize --input " + path("ids.jsonl") + " --output " + path("t.jsonl"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("ids.jsonl:2:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("201088"), std::string::npos) << r.err;

  // Neither truncated nor wrapped into another id.
  write("ids.jsonl", "{\"ids\": [1, 2.5]}\n");
  r = run("detokenize --input " + path("ids.jsonl") + " --output " + path("t.jsonl"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("ids.jsonl:1: \"ids\"[1]: expected an integer token id, found 2.5"),
            std::string::npos)
      << r.err;
  write("ids.jsonl", "{\"ids\": [4294967297]}\n");
  r = run("detokenize --input " + path("ids.jsonl") + " --output " + path("t.jsonl"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("found 4294967297"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("t.jsonl")));

  // A number past double's range is that line's JSON error too (it escaped unnamed).
  write("in.jsonl", "{\"text\": \"fine\"}\n{\"text\": 1e999}\n");
  r = run("tokenize --input " + path("in.jsonl") + " --output " + path("o.jsonl"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("in.jsonl:2: expected one JSON object per line: "), std::string::npos)
      << r.err;
}

TEST_F(DataCli, DetokenizeRefusesPartialCharactersUnlessLossy) {
  // A rare CJK character that BPE splits into byte tokens; keep only its first token.
  write("in.jsonl", "{\"text\": \"\xF0\xA0\x80\x8B\"}\n");
  ASSERT_EQ(run("tokenize -i " + path("in.jsonl") + " -o " + path("ids.jsonl")).rc, 0);
  auto ids = nlohmann::json::parse(slurp(path("ids.jsonl")))["ids"];
  ASSERT_GT(ids.size(), 1u);
  write("part.jsonl", nlohmann::json{{"ids", {ids[0]}}}.dump() + "\n");
  auto r = run("detokenize -i " + path("part.jsonl") + " -o " + path("t.jsonl"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("part.jsonl:1: decoded text: invalid UTF-8 at byte 0"), std::string::npos)
      << r.err;
  r = run("detokenize --lossy -i " + path("part.jsonl") + " -o " + path("t.jsonl"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(slurp(path("t.jsonl")).find("\xEF\xBF\xBD"), std::string::npos)
      << slurp(path("t.jsonl"));
}

TEST_F(DataCli, CountIsTheSameOnAnyNumberOfThreads) {
  std::string text;
  for (const auto& c : parity_cases(3000)) text += c["text"].get<std::string>() + "\n";
  write("t.txt", text);
  std::string counts[3];
  int threads[3] = {1, 2, 5};
  for (int i = 0; i < 3; ++i) {
    auto r = run("tokenize --input " + path("t.txt") + " --count --threads " +
                 std::to_string(threads[i]));
    ASSERT_EQ(r.rc, 0) << r.err;
    counts[i] = lines_of(r.out).back();
  }
  EXPECT_EQ(counts[0], counts[1]);
  EXPECT_EQ(counts[0], counts[2]);
  // And it equals the id count of encoding the whole file as one text.
  write("one.jsonl", nlohmann::json{{"text", text}}.dump() + "\n");
  ASSERT_EQ(run("tokenize -i " + path("one.jsonl") + " -o " + path("one_ids.jsonl")).rc, 0);
  EXPECT_EQ(std::to_string(nlohmann::json::parse(slurp(path("one_ids.jsonl")))["ids"].size()),
            counts[0]);
}

TEST_F(DataCli, PreprocessTextWritesDocumentsWithEodWhateverTheWorkers) {
  const auto cases = parity_cases(5000);
  std::string in;
  for (const auto& c : cases) in += nlohmann::json{{"text", c["text"]}}.dump() + "\n";
  write("data.jsonl", in);
  auto r = run("preprocess --input " + path("data.jsonl") + " --output-prefix " + path("one") +
               " --format text --workers 1");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("docs/s"), std::string::npos) << r.err;  // the progress line
  r = run("preprocess --input " + path("data.jsonl") + " --output-prefix " + path("four") +
          " --workers 4");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slurp(path("one.bin")), slurp(path("four.bin")));
  EXPECT_EQ(slurp(path("one.idx")), slurp(path("four.idx")));

  vpmoe::IndexedDatasetReader ds(path("one"));
  ASSERT_EQ(ds.sequences(), cases.size());
  EXPECT_EQ(ds.dtype(), vpmoe::IndexedDType::i32);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto want = cases[i]["ids"].get<std::vector<std::int32_t>>();
    want.push_back(199999);
    const auto got = ds.sequence<std::int32_t>(i);
    ASSERT_EQ(std::vector<std::int32_t>(got.begin(), got.end()), want) << i;
  }
  const auto manifest = nlohmann::json::parse(slurp(path("one.manifest.json")));
  EXPECT_EQ(manifest["tokenizer"]["name"], "tokenizer.o200k_harmony");
  EXPECT_EQ(manifest["tokenizer"]["vocab_size"], 201088);
  EXPECT_EQ(manifest["documents"], cases.size());
  EXPECT_EQ(manifest["sources"][0]["sha256"].get<std::string>().size(), 64u);
}

TEST_F(DataCli, PreprocessStopsAtAMalformedLineAndLeavesNothingBehind) {
  write("old.jsonl", "{\"text\": \"the old dataset\"}\n");
  ASSERT_EQ(run("preprocess -i " + path("old.jsonl") + " -o " + path("ds")).rc, 0);
  const std::string before = slurp(path("ds.bin")) + slurp(path("ds.idx"));
  std::string in;
  for (int i = 0; i < 3000; ++i) in += "{\"text\": \"line " + std::to_string(i) + "\"}\n";
  in += "{\"text\": 7}\n";
  write("bad.jsonl", in);
  const auto r = run("preprocess -i " + path("bad.jsonl") + " -o " + path("ds") + " --workers 3");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("bad.jsonl:3001: expected a JSON object with a string \"text\""),
            std::string::npos)
      << r.err;
  EXPECT_EQ(slurp(path("ds.bin")) + slurp(path("ds.idx")), before);
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST_F(DataCli, PreprocessHarmonyWritesAlignedSidecars) {
  std::string in;
  for (int i = 0; i < 300; ++i)
    in += R"({"messages": [{"role": "user", "content": "Question )" + std::to_string(i) +
          R"(?"}, {"role": "assistant", "channel": "analysis", "content": "Think."},)"
          R"( {"role": "assistant", "channel": "final", "content": "Answer."}]})"
          "\n";
  write("chat.jsonl", in);
  auto r = run("preprocess -i " + path("chat.jsonl") + " -o " + path("h") +
               " --format harmony --workers 3");
  ASSERT_EQ(r.rc, 0) << r.err;
  vpmoe::IndexedDatasetReader tokens(path("h_tokens")), mask(path("h_lossmask")),
      span(path("h_span"));
  ASSERT_EQ(tokens.sequences(), 300u);
  EXPECT_EQ(mask.dtype(), vpmoe::IndexedDType::u8);
  EXPECT_EQ(span.dtype(), vpmoe::IndexedDType::u8);
  for (std::size_t d = 0; d < 300; ++d) {
    ASSERT_EQ(mask.length(d), tokens.length(d));
    ASSERT_EQ(span.length(d), tokens.length(d));
    const auto t = tokens.sequence<std::int32_t>(d);
    const auto m = mask.sequence<std::uint8_t>(d);
    const auto s = span.sequence<std::uint8_t>(d);
    EXPECT_EQ(t.back(), 199999);  // EOD, masked out
    EXPECT_EQ(m.back(), 0);
    EXPECT_EQ(t[t.size() - 2], 200002);  // <|return|> ends the final answer
    EXPECT_EQ(s[s.size() - 2], 2);
    // The user message (the first one) is never in the loss.
    for (std::size_t i = 0; i < t.size() && t[i] != 200007; ++i) EXPECT_EQ(m[i], 0) << d;
  }
  r = run("preprocess -i " + path("chat.jsonl") + " -o " + path("h1") + " --format harmony");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* part : {"_tokens", "_lossmask", "_span"})
    for (const char* ext : {".bin", ".idx"})
      EXPECT_EQ(slurp(path(std::string("h") + part + ext)),
                slurp(path(std::string("h1") + part + ext)));

  write("badchat.jsonl", in + R"({"messages": [{"role": "user", "content": "x"}]})"
                              "\n");
  r = run("preprocess -i " + path("badchat.jsonl") + " -o " + path("hb") + " --format harmony");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("badchat.jsonl:301: conversation: training data needs at least one "
                       "assistant message"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(path("hb_tokens.bin")));
}

TEST_F(DataCli, UsageErrorsExitTwo) {
  EXPECT_EQ(run("preprocess --input x.jsonl").rc, 2);
  EXPECT_EQ(run("preprocess -i x -o y --format csv").rc, 2);
  EXPECT_EQ(run("tokenize --input x.txt").rc, 2);
}

}  // namespace
