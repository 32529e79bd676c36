#pragma once
// A run directory with small Harmony-style train/valid datasets (ids of the real vocabulary, a
// loss mask on two tokens of three) and the tiny test model's run.toml pointing at them.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "data/float16.h"
#include "host/train/tiny_model.h"
#include "train/run.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe::testing {

namespace fs = std::filesystem;

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vpmoe_run_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // A Harmony-style dataset: token ids of the real vocabulary, a mask on every third token.
    for (const char* split : {"train", "valid"}) {
      const std::string p = (dir_ / split).string();
      IndexedDatasetWriter t(p + "_tokens", IndexedDType::i32),
          m(p + "_lossmask", IndexedDType::u8);
      for (int d = 0; d < 40; ++d) {
        std::vector<std::int32_t> tok;
        std::vector<std::uint8_t> mask;
        for (int i = 0; i < 5 + d % 7; ++i) {
          tok.push_back(std::int32_t((d * 7919 + i * 104729) % 201088));
          mask.push_back(std::uint8_t(i % 3 != 0));
        }
        t.add_document(std::span<const std::int32_t>(tok));
        m.add_document(std::span<const std::uint8_t>(mask));
      }
      t.commit();
      m.commit();
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The tiny test model at the tokenizer's real vocabulary, on the indexed data; extra goes
  // into [run], model_keys replace [model] when given.
  Config config(const std::string& run_dir, int iters, const std::string& extra = "",
                const std::string& model_keys = "", const std::string& device = "cpu") {
    const std::string d = dir_.string();
    TinyKeys k;
    k.tokenizer = "vocab_size = 201088\npath = \"" + std::string(VPMOE_SOURCE_DIR) +
                  "/data/tokenizer/o200k_base.tiktoken\"\n";
    k.attention += "max_sequence_length = 8\n";
    if (!model_keys.empty()) k.model = model_keys;
    k.sections = "[run]\ndevice = \"" + device + "\"\ndir = \"" + d + "/" + run_dir + "\"\n" +
                 extra + "[data]\nsource = \"indexed\"\npaths = [\"" + d +
                 "/train\"]\n"
                 "valid_paths = [\"" +
                 d +
                 "/valid\"]\neval_interval = 2\neval_iters = 1\n"
                 "[train]\nmicro_batch_size = " +
                 std::to_string(micro_batch) +
                 "\nglobal_batch_size = " + std::to_string(global_batch) +
                 "\nlr = 0.01\n"
                 "min_lr = 0.001\nlr_decay_style = \"cosine\"\nlr_decay_iters = 6\n"
                 "train_iters = " +
                 std::to_string(iters) + "\n" + train_extra;
    const fs::path file = dir_ / (run_dir + ".toml");
    std::ofstream(file) << tiny_config_text(k);
    return load_config(file.string());
  }
  // Span labels (masked tokens: the first half of a document analysis, the rest final) and
  // teacher log-probabilities beside the train and valid data, for the loss plugins.
  void add_span_and_teacher_logp() {
    for (const char* split : {"train", "valid"}) {
      const std::string p = (dir_ / split).string();
      IndexedDatasetReader tokens(p + "_tokens"), mask(p + "_lossmask");
      IndexedDatasetWriter span(p + "_span", IndexedDType::u8),
          logp(p + "_teacher_logp", IndexedDType::u16);
      for (std::size_t d = 0; d < tokens.sequences(); ++d) {
        const auto tok = tokens.sequence<std::int32_t>(d);
        const auto m = mask.sequence<std::uint8_t>(d);
        std::vector<std::uint8_t> s;
        std::vector<std::uint16_t> l;
        for (std::size_t i = 0; i < tok.size(); ++i) {
          s.push_back(m[i] == 0 ? 0 : 2 * i < tok.size() ? 1 : 2);
          l.push_back(host::data::float16_bits(-double(tok[i] % 97) / 16.0));
        }
        span.add_document(std::span<const std::uint8_t>(s));
        logp.add_document(std::span<const std::uint16_t>(l));
      }
      span.commit();
      logp.commit();
    }
  }
  static std::string bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string train_extra;  // more [train] keys (or whole sections after [train])
  int micro_batch = 2, global_batch = 4;
  Registry reg_ = in_tree_plugins();
  fs::path dir_;
};

}  // namespace vpmoe::testing
