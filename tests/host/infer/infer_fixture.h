#pragma once
// A checkpoint of the trainer tests' tiny model (real vocabulary, sequences of 8) trained a few
// steps on the run fixture's Harmony-style data, loaded for inference, and helpers to compare
// with it.
#include <fstream>

#include "host/train/run_fixture.h"
#include "infer/loader.h"
#include "infer/score.h"
#include "train/run.h"

namespace vpmoe::testing {

class InferTest : public RunTest {
 protected:
  // Trains `iters` steps into run_dir; returns the run's result (checkpoint at the end).
  // model_keys replace [model] when given.
  host::train::RunResult train(const std::string& run_dir, int iters,
                               const std::string& model_keys = "") {
    const Config c = config(run_dir, iters, "", model_keys);
    return host::train::train_run(c, reg_);
  }
  host::infer::LoadedModel load(const std::string& checkpoint, const std::string& device = "") {
    host::infer::InferOptions o;
    o.checkpoint = checkpoint;
    o.device = device;
    return host::infer::load_for_inference(o, reg_);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Sequences of 2 to max_sequence_length + 1 (9) tokens, ids spread over the vocabulary.
  static std::vector<std::vector<std::int32_t>> sequences() {
    std::vector<std::vector<std::int32_t>> s;
    for (int n : {9, 2, 5, 8, 3, 9}) {
      std::vector<std::int32_t> ids;
      for (int i = 0; i < n; ++i) ids.push_back(std::int32_t((n * 7919 + i * 104729) % 201088));
      s.push_back(ids);
    }
    return s;
  }
};

}  // namespace vpmoe::testing
