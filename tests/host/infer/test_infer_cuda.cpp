// score and evaluate on CUDA against the CPU, from one checkpoint trained on the CPU: bf16
// compute (the configuration's [train] precision) within bf16 accuracy, fp32 tensors closer
// (the attention kernels multiply in bf16 even then, docs/attention.md), the argmax the same
// wherever the CPU's top-2 margin is clear, batching invariance within rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "host/infer/infer_fixture.h"
#include "infer/evaluate.h"

namespace vpmoe::testing {
namespace {

// Head dimension 16: the smallest the CUDA attention kernels take.
const char* kModel =
    "num_layers = 4\nhidden_size = 64\nnum_attention_heads = 4\nnum_query_groups = 2\n"
    "head_dim = 16\nffn_hidden_size = 32\n";

class InferCuda : public InferTest {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
    InferTest::SetUp();
  }
  // The CPU model's top-1 minus top-2 logit at each scored position of seq.
  static std::vector<double> margins(host::infer::LoadedModel& m,
                                     const std::vector<std::int32_t>& seq) {
    std::vector<float> f(seq.begin(), seq.end());
    const std::int64_t T = std::int64_t(seq.size());
    const Tensor h =
        m.model->forward_hidden(m.context(1, T), Tensor::from_floats(f, {T}, DType::i32, m.device));
    std::vector<std::int64_t> rows;
    for (std::int64_t t = 0; t + 1 < T; ++t) rows.push_back(t);
    const std::vector<float> z = host::infer::logits_of_rows(m, h, rows);
    const std::int64_t V = m.token_vocab();
    std::vector<double> out;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      std::vector<float> row(z.begin() + std::ptrdiff_t(r * V),
                             z.begin() + std::ptrdiff_t((r + 1) * V));
      std::partial_sort(row.begin(), row.begin() + 2, row.end(), std::greater<float>());
      out.push_back(double(row[0]) - double(row[1]));
    }
    return out;
  }
  void compare(const std::string& precision, double tol, double clear_margin) {
    train("run", 3, kModel);
    if (precision == "fp32") {  // the copy's [train] precision replaced
      std::string text = read(dir_ / "run/checkpoints/step_00000003/run.toml");
      text.replace(text.find("[train]\n"), 8, "[train]\nprecision = \"fp32\"\n");
      write("fp32.toml", text);
    }
    host::infer::InferOptions o;
    o.checkpoint = (dir_ / "run/checkpoints").string();
    if (precision == "fp32") o.config = (dir_ / "fp32.toml").string();
    o.device = "cpu";
    auto cpu = host::infer::load_for_inference(o, reg_);
    o.device = "cuda";
    auto gpu = host::infer::load_for_inference(o, reg_);
    ASSERT_TRUE(gpu.device.is_cuda());
    EXPECT_EQ(gpu.bf16, precision == "bf16");
    const auto seqs = sequences();
    const auto a = host::infer::score_batch(cpu, seqs), b = host::infer::score_batch(gpu, seqs);
    double worst = 0;
    int compared = 0, agreed = 0;
    for (std::size_t s = 0; s < seqs.size(); ++s) {
      const std::vector<double> mg = margins(cpu, seqs[s]);
      for (std::size_t t = 0; t < a[s].logprobs.size(); ++t) {
        const double d = std::abs(double(a[s].logprobs[t]) - double(b[s].logprobs[t]));
        worst = std::max(worst, d);
        EXPECT_LE(d, tol) << precision << " sequence " << s << " position " << t;
        if (mg[t] > clear_margin) {
          ++compared;
          agreed += a[s].argmax[t] == b[s].argmax[t];
          EXPECT_EQ(a[s].argmax[t], b[s].argmax[t])
              << precision << " sequence " << s << " position " << t << " margin " << mg[t];
        }
      }
    }
    std::printf("%s: worst |logprob cuda - cpu| %.3g; argmax agrees at %d of %d clear positions\n",
                precision.c_str(), worst, agreed, compared);
    EXPECT_GT(compared, 0);
    // Batches of one against the batch: within rounding (cuBLAS may pick kernels by shape).
    for (std::size_t s = 0; s < seqs.size(); ++s) {
      const auto alone = host::infer::score_batch(gpu, {seqs[s]});
      for (std::size_t t = 0; t < alone[0].logprobs.size(); ++t)
        EXPECT_NEAR(alone[0].logprobs[t], b[s].logprobs[t], tol) << "sequence " << s;
    }
    // evaluate: the same loss within the same accuracy.
    host::infer::EvalOptions eo;
    eo.data = {(dir_ / "valid").string()};
    const auto ec = host::infer::evaluate(cpu, eo), eg = host::infer::evaluate(gpu, eo);
    const double lc = ec.total.all.loss / ec.total.all.tokens,
                 lg = eg.total.all.loss / eg.total.all.tokens;
    EXPECT_NEAR(lg, lc, tol) << precision;
    std::printf("%s: evaluate loss cpu %.6f cuda %.6f\n", precision.c_str(), lc, lg);
  }
};

TEST_F(InferCuda, Bf16MatchesTheCpu) {
  compare("bf16", 5e-2, 5e-2);
}

TEST_F(InferCuda, Fp32MatchesTheCpu) {
  compare("fp32", 1e-2, 1e-2);
}

}  // namespace
}  // namespace vpmoe::testing
