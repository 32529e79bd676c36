// generate on CUDA: greedy decoding through the KV cache against score's argmax on the same
// device, at every position where the full forward's top-2 margin is clear (the cached decode
// and the full forward run different kernels, so a near-tie may break either way), in bf16 and
// fp32 compute.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "host/infer/infer_fixture.h"
#include "infer/generate.h"

namespace vpmoe::testing {
namespace {

// Head dimension 16: the smallest the CUDA attention kernels take.
const char* kModel =
    "num_layers = 4\nhidden_size = 64\nnum_attention_heads = 4\nnum_query_groups = 2\n"
    "head_dim = 16\nffn_hidden_size = 32\n";

class GenerateCuda : public InferTest {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
    InferTest::SetUp();
  }
  void compare(const std::string& precision, double clear_margin) {
    train("run", 3, kModel);
    host::infer::InferOptions o;
    o.checkpoint = (dir_ / "run/checkpoints").string();
    if (precision == "fp32") {
      std::string text = read(dir_ / "run/checkpoints/step_00000003/run.toml");
      text.replace(text.find("[train]\n"), 8, "[train]\nprecision = \"fp32\"\n");
      o.config = write("fp32.toml", text);
    }
    o.device = "cuda";
    auto m = host::infer::load_for_inference(o, reg_);
    ASSERT_TRUE(m.device.is_cuda());
    host::infer::GenerateOptions g;
    g.sampling.temperature = 0.0;
    g.max_new_tokens = 16;
    int compared = 0, agreed = 0;
    for (const std::vector<std::int32_t>& prompt :
         {std::vector<std::int32_t>{200006, 1428, 200008}, {17}, {5, 99, 1000, 200006, 7, 8}}) {
      const auto c = host::infer::generate(m, prompt, g);
      std::vector<std::int32_t> all = c.prompt_ids;
      all.insert(all.end(), c.ids.begin(), c.ids.end());
      const auto s = host::infer::score_batch(m, {all});
      // The full forward's logits at the positions that predicted generated tokens.
      std::vector<float> f(all.begin(), all.end());
      const std::int64_t T = std::int64_t(all.size()) - 1;
      const Tensor h = m.model->forward_hidden(
          m.context(1, T), Tensor::from_floats(std::vector<float>(f.begin(), f.end() - 1), {T},
                                               DType::i32, m.device));
      std::vector<std::int64_t> rows;
      for (std::size_t i = 0; i < c.ids.size(); ++i)
        rows.push_back(std::int64_t(prompt.size() - 1 + i));
      const std::vector<float> z = host::infer::logits_of_rows(m, h, rows);
      const std::int64_t V = m.token_vocab();
      for (std::size_t i = 0; i < rows.size(); ++i) {
        std::vector<float> row(z.begin() + std::ptrdiff_t(i * V),
                               z.begin() + std::ptrdiff_t((i + 1) * V));
        std::partial_sort(row.begin(), row.begin() + 2, row.end(), std::greater<float>());
        if (double(row[0]) - double(row[1]) <= clear_margin) continue;
        ++compared;
        agreed += s[0].argmax[std::size_t(rows[i])] == c.ids[i];
        EXPECT_EQ(s[0].argmax[std::size_t(rows[i])], c.ids[i])
            << precision << " token " << i << " margin " << row[0] - row[1];
      }
    }
    std::printf("%s: greedy generate = score's argmax at %d of %d clear positions\n",
                precision.c_str(), agreed, compared);
    EXPECT_GT(compared, 0);
  }
};

TEST_F(GenerateCuda, Bf16GreedyIsScoresArgmax) {
  compare("bf16", 5e-2);
}

TEST_F(GenerateCuda, Fp32GreedyIsScoresArgmax) {
  compare("fp32", 1e-2);
}

}  // namespace
}  // namespace vpmoe::testing
