// evaluate on the CPU: the trainer's own validation loss on the same samples, bit for bit; the
// per-span and per-dataset numbers against score's log-probabilities over the same windows
// with the sidecars' masks and spans; the JSON.
#include <gtest/gtest.h>

#include <cmath>

#include "data/blended_dataset.h"
#include "host/infer/infer_fixture.h"
#include "infer/evaluate.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe::testing {
namespace {

using host::infer::EvalOptions;

class Evaluate : public InferTest {};

// The run evaluates eval_iters (1) global batches of 4 = 2 micro-batches of 2 after its last
// step, with the weights it then saves: evaluate's first 2 batches of 2 are those samples.
TEST_F(Evaluate, EqualsTheTrainersValidationLoss) {
  const auto run = train("run", 3);
  ASSERT_FALSE(run.valid_losses.empty());
  auto m = load((dir_ / "run/checkpoints").string());
  EvalOptions o;
  o.data = {(dir_ / "valid").string()};
  o.max_batches = 2;  // batch size: [train] micro_batch_size, 2
  const auto r = host::infer::evaluate(m, o);
  EXPECT_EQ(r.total.sequences, 4);
  ASSERT_GT(r.total.all.tokens, 0);
  EXPECT_EQ(r.total.all.loss / r.total.all.tokens, run.valid_losses.back());
  // Another batch size: the same samples, the same loss within rounding of the sums.
  o.batch_size = 3;
  o.max_batches = 0;
  const auto whole = host::infer::evaluate(m, o);
  EXPECT_GT(whole.total.sequences, 4);
}

TEST_F(Evaluate, SpansAndDatasetsMatchScoreOverTheSameWindows) {
  add_span_and_teacher_logp();
  train("run", 3);
  // A plain dataset too: every label counts, no spans.
  const std::string plain = (dir_ / "plain").string();
  {
    IndexedDatasetWriter t(plain, IndexedDType::i32);
    for (int d = 0; d < 6; ++d) {
      std::vector<std::int32_t> tok;
      for (int i = 0; i < 9 + d; ++i) tok.push_back(std::int32_t((d * 31 + i * 7) % 5000));
      t.add_document(std::span<const std::int32_t>(tok));
    }
    t.commit();
  }
  auto m = load((dir_ / "run/checkpoints").string());
  EvalOptions o;
  o.data = {(dir_ / "valid").string(), plain};
  o.batch_size = 3;
  const auto r = host::infer::evaluate(m, o);
  ASSERT_EQ(r.datasets.size(), 2u);

  // The reference: each window scored alone, its labels weighted by the mask and span of the
  // token after them.
  const std::int64_t T = m.max_sequence_length();
  host::infer::LossSum all[2], reasoning, final;
  std::int64_t windows[2] = {0, 0};
  for (int d = 0; d < 2; ++d) {
    const std::string& p = o.data[std::size_t(d)];
    const std::int64_t epoch = host::data::GptDataset(p, T, 1, 1).samples();
    host::data::BlendedDataset blend({p}, {}, T, epoch, m.config.run.seed + 1);
    std::vector<std::int32_t> w(std::size_t(T + 1));
    std::vector<std::uint8_t> mask(std::size_t(T + 1)), span(std::size_t(T + 1));
    for (std::int64_t i = 0; i < blend.samples(); ++i, ++windows[d]) {
      blend.window(i, w.data(), mask.data(), nullptr, span.data());
      const auto sc = host::infer::score_batch(m, {w});
      for (std::int64_t t = 0; t < T; ++t) {
        const double ce = -double(sc[0].logprobs[std::size_t(t)]);
        const std::uint8_t mk = mask[std::size_t(t + 1)], sp = span[std::size_t(t + 1)];
        all[d].add(ce, mk);
        if (mk && sp == 1) reasoning.add(ce, 1);
        if (mk && sp == 2) final.add(ce, 1);
      }
    }
  }
  auto near = [](const host::infer::LossSum& got, const host::infer::LossSum& want,
                 const char* what) {
    EXPECT_EQ(got.tokens, want.tokens) << what;
    ASSERT_GT(want.tokens, 0) << what;
    EXPECT_NEAR(got.loss / got.tokens, want.loss / want.tokens, 1e-6 * want.loss / want.tokens)
        << what;
  };
  const auto& valid = r.datasets[0].second;
  const auto& flat = r.datasets[1].second;
  EXPECT_EQ(valid.sequences, windows[0]);
  EXPECT_EQ(flat.sequences, windows[1]);
  near(valid.all, all[0], "valid");
  near(valid.reasoning, reasoning, "valid reasoning");
  near(valid.final, final, "valid final");
  near(flat.all, all[1], "plain");
  EXPECT_EQ(flat.all.tokens, double(windows[1] * T)) << "every label of a plain dataset counts";
  host::infer::LossSum both = all[0];
  both.add(all[1]);
  near(r.total.all, both, "both datasets, token-weighted");

  const auto j = host::infer::eval_json(m, r);
  EXPECT_EQ(j["checkpoint"], m.dir);
  EXPECT_EQ(j["step"], 3);
  EXPECT_EQ(j["tokens"].get<double>(), both.tokens);
  EXPECT_DOUBLE_EQ(j["perplexity"].get<double>(), std::exp(j["loss"].get<double>()));
  EXPECT_DOUBLE_EQ(j["spans"]["final"]["loss"].get<double>(),
                   valid.final.loss / valid.final.tokens);
  EXPECT_TRUE(j["datasets"][o.data[0]].contains("spans"));
  EXPECT_FALSE(j["datasets"][plain].contains("spans"));
  EXPECT_EQ(j["datasets"][plain]["sequences"], windows[1]);
}

TEST_F(Evaluate, RefusesAMissingDataset) {
  train("run", 3);
  auto m = load((dir_ / "run/checkpoints").string());
  EvalOptions o;
  o.data = {(dir_ / "nope").string()};
  try {
    host::infer::evaluate(m, o);
    ADD_FAILURE() << "a missing dataset was evaluated";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(o.data[0]), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vpmoe::testing
