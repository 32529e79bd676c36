// preprocess --format tokens and the held-out split through the vpmoe-host binary: ids, loss
// mask, spans and teacher log-probabilities read back through the dataset with the labels'
// shift (float16 rounding against a double reference computed here), every bad input named
// FILE:LINE, and a line's side of the split a function of its key's value alone (any worker
// count, any input holding the line, every JSON Lines format), its share within a binomial bound.
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "data/blended_dataset.h"
#include "data/float16.h"
#include "data/preprocess.h"
#include "host/data_cli/data_cli_fixture.h"
#include "train/batch_source.h"
#include "vpmoe/indexed_dataset.h"

namespace {

using namespace vpmoe::testing;
using nlohmann::json;
using vpmoe::IndexedDatasetReader;

// x rounded to the nearest float16 (ties to even), in double: the value, not the bits.
double float16_reference(double x) {
  const double a = std::fabs(x);
  if (a == 0) return 0;
  int e;
  std::frexp(a, &e);
  const double ulp = std::ldexp(1.0, std::max(e - 1, -14) - 10);  // 11 significant bits
  const double q = a / ulp, r = std::floor(q);
  const double up = q - r > 0.5 || (q - r == 0.5 && std::fmod(r, 2) == 1) ? r + 1 : r;
  return std::copysign(up * ulp, x);
}

std::vector<std::string> read_all(const std::string& prefix) {
  return {slurp(prefix + ".bin"), slurp(prefix + ".idx")};
}

TEST(Float16Reference, AgreesWithTheTable) {
  // The reference itself, on values whose rounding is known by hand.
  EXPECT_EQ(float16_reference(-(1 + std::ldexp(1, -11))), -1.0);  // a tie, to even
  EXPECT_EQ(float16_reference(-(1 + 3 * std::ldexp(1, -11))), -(1 + std::ldexp(1, -9)));
  EXPECT_EQ(float16_reference(-65519.9), -65504.0);
  EXPECT_EQ(float16_reference(-3e-8), -std::ldexp(1, -24));  // subnormal, rounds up
  EXPECT_EQ(float16_reference(-2e-8), 0.0);
}

class PreprocessTokens : public DataCli {
 protected:
  std::string prep(const std::string& in, const std::string& out, const std::string& extra = "") {
    return "preprocess -i " + path(in) + " -o " + path(out) + " " + extra;
  }
};

TEST_F(PreprocessTokens, RoundTripThroughTheDatasetWithTheLabelsShift) {
  // Document d, position p: id 1000 d + p (so a batch names where each token came from).
  const int D = 60;
  std::vector<std::vector<int>> mask(D), span(D);
  std::vector<std::vector<double>> logp(D);
  const std::vector<double> special = {0.0,
                                       -1e-9,  // below half the smallest subnormal: -0
                                       -3e-8,  // subnormal, rounds up to 2^-24
                                       -1e-5,
                                       -(1 + std::ldexp(1, -11)),  // ties to even
                                       -(1 + 3 * std::ldexp(1, -11)),
                                       -(1 + std::ldexp(1, -11) + std::ldexp(1, -40)),
                                       -65504,
                                       -65519.9};
  std::mt19937_64 g(11);
  std::uniform_real_distribution<double> u(-30, 0);
  std::string in;
  std::size_t k = 0;
  for (int d = 0; d < D; ++d) {
    json line;
    line["source"] = "teacher-job";  // other keys are ignored
    const int len = 5 + (d * 7) % 23;
    for (int p = 0; p < len; ++p) {
      line["ids"].push_back(1000 * d + p);
      mask[d].push_back((d + p) % 2);
      span[d].push_back((3 * d + p) % 3);
      logp[d].push_back(k < special.size() ? special[k++] : u(g));
    }
    line["loss_mask"] = mask[d];
    line["span"] = span[d];
    line["teacher_logp"] = logp[d];
    in += line.dump() + "\n";
  }
  write("t.jsonl", in);
  auto r = run(prep("t.jsonl", "one", "--format tokens --workers 1"));
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run(prep("t.jsonl", "three", "--format tokens --workers 3"));
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* part : {"_tokens", "_lossmask", "_span", "_teacher_logp"})
    EXPECT_EQ(read_all(path(std::string("one") + part)),
              read_all(path(std::string("three") + part)))
        << part;

  IndexedDatasetReader tokens(path("one_tokens")), lm(path("one_lossmask")), sp(path("one_span")),
      tl(path("one_teacher_logp"));
  ASSERT_EQ(tokens.sequences(), std::size_t(D));
  EXPECT_EQ(tl.dtype(), vpmoe::IndexedDType::u16);
  for (int d = 0; d < D; ++d) {
    const auto t = tokens.sequence<std::int32_t>(std::size_t(d));
    const auto m = lm.sequence<std::uint8_t>(std::size_t(d));
    const auto s = sp.sequence<std::uint8_t>(std::size_t(d));
    const auto l = tl.sequence<std::uint16_t>(std::size_t(d));
    ASSERT_EQ(t.size(), mask[std::size_t(d)].size()) << "the ids as given, no EOD appended";
    ASSERT_EQ(l.size(), t.size());
    for (std::size_t p = 0; p < t.size(); ++p) {
      EXPECT_EQ(t[p], std::int32_t(1000 * d + int(p)));
      EXPECT_EQ(m[p], mask[std::size_t(d)][p]);
      EXPECT_EQ(s[p], span[std::size_t(d)][p]);
      const double x = logp[std::size_t(d)][p];
      EXPECT_EQ(double(vpmoe::host::data::float16_value(l[p])), float16_reference(x))
          << "document " << d << " position " << p << ": " << x;
    }
  }
  const auto manifest = json::parse(slurp(path("one.manifest.json")));
  EXPECT_EQ(manifest["format"], "tokens");
  ASSERT_EQ(manifest["shards"].size(), 4u);
  EXPECT_EQ(manifest["shards"][3]["prefix"], path("one_teacher_logp"));
  EXPECT_EQ(manifest["shards"][3]["dtype"], "float16");

  // Through the trainer's source: every label carries its own token's mask and value.
  using vpmoe::host::data::BlendedDataset;
  auto blend = std::make_shared<const BlendedDataset>(std::vector<std::string>{path("one")},
                                                      std::vector<double>{}, 7, 40, 3);
  vpmoe::host::train::IndexedSource src(blend, 2, 1, 0, 1, vpmoe::Device::cpu());
  for (int mb = 0; mb < 20; ++mb) {
    const auto b = src.next();
    ASSERT_TRUE(b.teacher_logp.defined());
    const auto ids = b.ids.to_floats(), tg = b.targets.to_floats(), m = b.mask.to_floats(),
               l = b.teacher_logp.to_floats();
    for (std::size_t at = 0; at < tg.size(); ++at) {
      const int v = int(tg[at]), d = v / 1000, p = v % 1000;
      EXPECT_EQ(m[at], float(mask[std::size_t(d)][std::size_t(p)])) << v;
      EXPECT_EQ(double(l[at]), float16_reference(logp[std::size_t(d)][std::size_t(p)])) << v;
      if (p > 0) EXPECT_EQ(int(ids[at]), v - 1) << "inside a document the label is the next id";
    }
  }
}

TEST_F(PreprocessTokens, TheLayoutFollowsTheFieldsPresent) {
  write("ids.jsonl", "{\"ids\": [1, 2, 3]}\n{\"ids\": [4]}\n");
  ASSERT_EQ(run(prep("ids.jsonl", "plain", "--format tokens")).rc, 0);
  EXPECT_TRUE(fs::exists(path("plain.bin")));
  EXPECT_FALSE(fs::exists(path("plain_teacher_logp.bin")));
  EXPECT_FALSE(fs::exists(path("plain_lossmask.bin")));
  using vpmoe::host::data::BlendedDataset;
  {
    auto blend = std::make_shared<const BlendedDataset>(std::vector<std::string>{path("plain")},
                                                        std::vector<double>{}, 2, 2, 1);
    vpmoe::host::train::IndexedSource src(blend, 1, 1, 0, 1, vpmoe::Device::cpu());
    const auto b = src.next();
    EXPECT_FALSE(b.teacher_logp.defined()) << "no sidecar, no teacher values in the batch";
    EXPECT_FALSE(b.mask.defined());
  }

  write("kd.jsonl", "{\"ids\": [1, 2, 3], \"teacher_logp\": [0, -1, -2]}\n");
  ASSERT_EQ(run(prep("kd.jsonl", "kd", "--format tokens")).rc, 0);
  EXPECT_TRUE(fs::exists(path("kd.bin")));
  EXPECT_TRUE(fs::exists(path("kd_teacher_logp.bin")));
  EXPECT_FALSE(fs::exists(path("kd_tokens.bin")));

  // Spans without a mask: the Harmony layout, every label counting.
  write("sp.jsonl", "{\"ids\": [1, 2, 3], \"span\": [0, 1, 2]}\n");
  ASSERT_EQ(run(prep("sp.jsonl", "sp", "--format tokens")).rc, 0);
  IndexedDatasetReader m(path("sp_lossmask")), s(path("sp_span"));
  EXPECT_EQ(std::vector<std::uint8_t>(m.sequence<std::uint8_t>(0).begin(),
                                      m.sequence<std::uint8_t>(0).end()),
            (std::vector<std::uint8_t>{1, 1, 1}));
  EXPECT_EQ(s.sequence<std::uint8_t>(0)[2], 2);
}

TEST_F(PreprocessTokens, EveryBadInputIsNamedWithItsLine) {
  const std::string good =
      R"({"ids": [5, 6], "loss_mask": [1, 1], "span": [0, 2], "teacher_logp": [-0.5, -1]})";
  const std::string tail = R"(, "loss_mask": [1, 1], "span": [0, 2])";
  struct Case {
    std::string bad, what, also;  // the line; the message after "FILE:LINE: "; more of it
  };
  const std::vector<Case> cases = {
      {R"({"loss_mask": [1]})", "expected \"ids\": an array of integer token ids"},
      {R"({"ids": 7})", "\"ids\": expected an array, found 7"},
      {R"({"ids": []})", "\"ids\": expected at least one token id, found []"},
      {R"({"ids": [1, 201088]})",
       "\"ids\"[1]: expected an integer token id in [0, 201088), "
       "found 201088"},
      {R"({"ids": [-1]})", "\"ids\"[0]: expected an integer token id in [0, 201088), found -1"},
      {R"({"ids": [1, "2"]})",
       "\"ids\"[1]: expected an integer token id in [0, 201088), found "
       "\"2\""},
      {R"({"ids": [1.5]})", "\"ids\"[0]: expected an integer token id in [0, 201088), found 1.5"},
      {R"({"ids": [1, 2], "loss_mask": [1]})",
       "\"loss_mask\": 1 values for 2 ids (expected one per id)"},
      {R"({"ids": [1, 2], "loss_mask": [1, 2]})", "\"loss_mask\"[1]: expected 0 or 1, found 2"},
      {R"({"ids": [1, 2], "span": [0, 3]})",
       "\"span\"[1]: expected 0 (prompt), 1 (analysis) or 2 (final), found 3"},
      {R"({"ids": [1, 2], "teacher_logp": [-1]})", "\"teacher_logp\": 1 values for 2 ids"},
      {R"({"ids": [1, 2], "teacher_logp": "x"})",
       "\"teacher_logp\": expected an array, found "
       "\"x\""},
      {R"({"ids": [1, 2], "teacher_logp": [-1, "nan"]})",
       "\"teacher_logp\"[1]: expected a number (a log-probability), found \"nan\""},
      {R"({"ids": [1, 2], "teacher_logp": [-1, null]})",
       "\"teacher_logp\"[1]: expected a number (a log-probability), found null"},
      {R"({"ids": [1, 2], "teacher_logp": [-1, NaN]})",
       "expected one JSON object per line: ", "(NaN and Infinity are not JSON numbers)"},
      {R"({"ids": [1, 2], "teacher_logp": [-Infinity, -1]})",
       "expected one JSON object per line: ", "(NaN and Infinity are not JSON numbers)"},
      {R"({"ids": [1, 2], "teacher_logp": [-1, -1e400]})",
       "expected one JSON object per line: ", "number overflow parsing '-1e400'"},
      {R"({"ids": [1, 2], "teacher_logp": [-1, 0.5]})",
       "\"teacher_logp\"[1]: expected a log-probability (<= 0), found 0.5"},
      {R"({"ids": [1, 2], "teacher_logp": [-70000, -1]})",
       "\"teacher_logp\"[0]: expected a value float16 holds (>= -65504), found -70000"},
      {R"({"ids": [1, 2])" + tail + "}",
       "\"teacher_logp\" is missing but line 1 has it (every line has it or none)"},
  };
  for (const auto& [bad, what, also] : cases) {
    write("bad.jsonl", good + "\n" + bad + "\n");
    const auto r = run(prep("bad.jsonl", "ds", "--format tokens"));
    EXPECT_EQ(r.rc, 1) << bad;
    EXPECT_NE(r.err.find("bad.jsonl:2: " + what), std::string::npos) << bad << "\n" << r.err;
    EXPECT_NE(r.err.find(also), std::string::npos) << bad << "\n" << r.err;
  }
  // A field the first line lacks; a bad line deep in a file read by several workers.
  write("bad.jsonl", "{\"ids\": [1]}\n\n{\"ids\": [2], \"teacher_logp\": [-1]}\n");
  auto r = run(prep("bad.jsonl", "ds", "--format tokens"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("bad.jsonl:3: \"teacher_logp\" is here but line 1 has none"),
            std::string::npos)
      << r.err;
  std::string many;
  for (int i = 0; i < 2500; ++i) many += good + "\n";
  write("bad.jsonl", many + R"({"ids": [1, 2], "teacher_logp": [-1, 1])" + tail + "}\n");
  r = run(prep("bad.jsonl", "ds", "--format tokens --workers 3"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("bad.jsonl:2501: \"teacher_logp\"[1]: expected a log-probability"),
            std::string::npos)
      << r.err;
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().rfind("ds", 0), std::string::npos)
        << "a failed run leaves nothing: " << e.path();
  EXPECT_EQ(run(prep("bad.jsonl", "ds", "--format tokens --allow-specials")).rc, 2);
}

// The i of each document of a tokens dataset whose ids are [i / 1000, i % 1000, ...].
std::vector<int> lines_in(const std::string& prefix) {
  IndexedDatasetReader r(prefix);
  std::vector<int> out;
  for (std::size_t s = 0; s < r.sequences(); ++s)
    out.push_back(1000 * r.sequence<std::int32_t>(s)[0] + r.sequence<std::int32_t>(s)[1]);
  return out;
}

std::string keyed_line(int i, bool reorder = false) {
  const json id = "s-" + std::to_string(i);
  const json ids = {i / 1000, i % 1000, 7};
  const json logp = {-0.25, -1.0 * (i % 5), -3.5};
  // The same record written another way (key order, spacing) keeps its key's value.
  if (reorder)
    return R"({"teacher_logp": )" + logp.dump() + R"(,  "ids": )" + ids.dump() +
           R"(, "synth_id" : )" + id.dump() + "}";
  return json{{"synth_id", id}, {"ids", ids}, {"teacher_logp", logp}}.dump();
}

TEST_F(PreprocessTokens, SplitSideDependsOnTheKeysValueAlone) {
  const int N = 2000;
  const double F = 0.1;
  std::string in;
  for (int i = 0; i < N; ++i) in += keyed_line(i) + "\n";
  write("a.jsonl", in);
  const std::string split = " --split-key synth_id --valid-fraction 0.1";
  auto r = run(prep("a.jsonl", "a", "--format tokens --workers 1" + split));
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run(prep("a.jsonl", "b", "--format tokens --workers 4" + split));
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* part : {"_train", "_valid", "_train_teacher_logp", "_valid_teacher_logp"})
    EXPECT_EQ(read_all(path(std::string("a") + part)), read_all(path(std::string("b") + part)))
        << part;
  EXPECT_FALSE(fs::exists(path("a.bin")));

  const auto train = lines_in(path("a_train")), valid = lines_in(path("a_valid"));
  ASSERT_EQ(train.size() + valid.size(), std::size_t(N));
  // Binomial(2000, 0.1): mean 200, sd 13.4; 5 sd either side.
  EXPECT_NEAR(double(valid.size()), N * F, 5 * std::sqrt(N * F * (1 - F))) << valid.size();
  std::map<int, bool> side;
  for (int i : train) side[i] = false;
  for (int i : valid) side[i] = true;
  ASSERT_EQ(side.size(), std::size_t(N)) << "every line once";
  for (int i = 0; i < N; ++i)
    EXPECT_EQ(side[i], vpmoe::host::data::split_point(json("s-" + std::to_string(i)).dump()) < F)
        << i;
  // Input order kept on each side.
  EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));
  EXPECT_TRUE(std::is_sorted(valid.begin(), valid.end()));

  // Another input holding half of those lines (written differently, in reverse order) and new
  // ones: every shared line lands on its side again.
  std::string other;
  for (int i = 2999; i >= 1000; --i) other += keyed_line(i, true) + "\n";
  write("c.jsonl", other);
  r = run(prep("c.jsonl", "c", "--format tokens --workers 2" + split));
  ASSERT_EQ(r.rc, 0) << r.err;
  int shared = 0;
  for (int i : lines_in(path("c_train")))
    if (i < N) {
      EXPECT_FALSE(side[i]) << i;
      ++shared;
    }
  for (int i : lines_in(path("c_valid")))
    if (i < N) {
      EXPECT_TRUE(side[i]) << i;
      ++shared;
    }
  EXPECT_EQ(shared, 1000);

  const auto m = json::parse(slurp(path("a_valid.manifest.json")));
  EXPECT_EQ(m["split"]["key"], "synth_id");
  EXPECT_EQ(m["split"]["side"], "valid");
  EXPECT_EQ(m["documents"], valid.size());
  EXPECT_EQ(json::parse(slurp(path("a_train.manifest.json")))["split"]["side"], "train");
}

TEST_F(PreprocessTokens, SplitWorksForTextAndHarmonyToo) {
  using vpmoe::host::data::split_point;
  const int N = 80;
  const double F = 0.3;
  std::string text, chat;
  std::size_t want_valid = 0;
  for (int i = 0; i < N; ++i) {
    text += json{{"text", "line " + std::to_string(i)}, {"synth_id", i}}.dump() + "\n";
    chat += R"({"synth_id": {"n": )" + std::to_string(i) +
            R"(}, "messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", )"
            R"("channel": "final", "content": "A."}]})"
            "\n";
    want_valid += split_point(std::to_string(i)) < F;
  }
  write("text.jsonl", text);
  write("chat.jsonl", chat);
  const std::string split = " --split-key synth_id --valid-fraction 0.3";
  auto r = run(prep("text.jsonl", "t", "--workers 2" + split));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(IndexedDatasetReader(path("t_valid")).sequences(), want_valid);
  EXPECT_EQ(IndexedDatasetReader(path("t_train")).sequences(), N - want_valid);
  // Line i of the valid side is "line <i>" for the i whose key hashes below F.
  std::vector<int> expect;
  for (int i = 0; i < N; ++i)
    if (split_point(std::to_string(i)) < F) expect.push_back(i);
  r = run("tokenize -i " + path("text.jsonl") + " -o " + path("ids.jsonl"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto ids = lines_of(slurp(path("ids.jsonl")));
  IndexedDatasetReader tv(path("t_valid"));
  for (std::size_t s = 0; s < expect.size(); ++s) {
    auto want = json::parse(ids[std::size_t(expect[s])])["ids"].get<std::vector<std::int32_t>>();
    want.push_back(199999);
    const auto got = tv.sequence<std::int32_t>(s);
    EXPECT_EQ(std::vector<std::int32_t>(got.begin(), got.end()), want) << expect[s];
  }

  r = run(prep("chat.jsonl", "h", "--format harmony" + split));
  ASSERT_EQ(r.rc, 0) << r.err;
  std::size_t chat_valid = 0;
  for (int i = 0; i < N; ++i) chat_valid += split_point(R"({"n":)" + std::to_string(i) + "}") < F;
  for (const char* part : {"_tokens", "_lossmask", "_span"}) {
    EXPECT_EQ(IndexedDatasetReader(path(std::string("h_valid") + part)).sequences(), chat_valid);
    EXPECT_EQ(IndexedDatasetReader(path(std::string("h_train") + part)).sequences(),
              N - chat_valid);
  }
}

TEST_F(PreprocessTokens, SplitErrorsAreClear) {
  write("k.jsonl", keyed_line(1) + "\n" + keyed_line(2) + "\n\n" +
                       R"({"ids": [1, 2, 3], "teacher_logp": [0, 0, 0]})" + "\n");
  auto r = run(prep("k.jsonl", "k", "--format tokens --split-key synth_id --valid-fraction 0.5"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("k.jsonl:4: expected a \"synth_id\" field (--split-key"), std::string::npos)
      << r.err;
  for (const char* f : {"0", "1", "1.5", "-0.1", "nan"}) {
    r = run(prep("k.jsonl", "k",
                 std::string("--format tokens --split-key synth_id "
                             "--valid-fraction ") +
                     f));
    EXPECT_EQ(r.rc, 2) << f;
    EXPECT_NE(r.err.find("--valid-fraction: expected a number in (0, 1), found "),
              std::string::npos)
        << r.err;
  }
  r = run(prep("k.jsonl", "k", "--format tokens --split-key synth_id"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--split-key and --valid-fraction go together"), std::string::npos) << r.err;

  // A fraction so small that no line falls below it: an empty side is an error, not a dataset.
  write("k.jsonl", keyed_line(1) + "\n" + keyed_line(2) + "\n");
  const double lowest = std::min(vpmoe::host::data::split_point(json("s-1").dump()),
                                 vpmoe::host::data::split_point(json("s-2").dump()));
  std::ostringstream f;
  f.precision(17);
  f << lowest / 2;
  r = run(prep("k.jsonl", "k", "--format tokens --split-key synth_id --valid-fraction " + f.str()));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("k.jsonl: the split put none of its 2 line(s) in " + path("k_valid")),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(path("k_train.bin")));
}

}  // namespace
