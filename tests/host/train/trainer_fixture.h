#pragma once
// The Trainer tests' parts: a fixed set of sequences as micro-batches, and the tiny model with
// its optimizers and trainer on one CPU process.
#include <gtest/gtest.h>

#include "host/train/tiny_model.h"
#include "train/model_builder.h"
#include "train/trainer.h"

namespace vpmoe::testing {

// Sequences [first, first + count) of a fixed set, as micro-batches of `per` sequences; its
// position is the next sequence.
struct FixedSource final : host::train::BatchSource {
  static constexpr std::int64_t T = 8;
  std::int64_t per, next_seq = 0, total;
  FixedSource(std::int64_t per_batch, std::int64_t sequences) : per(per_batch), total(sequences) {}
  host::train::Batch next() override {
    std::vector<float> ids, targets;
    for (std::int64_t s = 0; s < per; ++s, next_seq = (next_seq + 1) % total)
      for (std::int64_t t = 0; t < T; ++t) {
        ids.push_back(float((next_seq * 13 + t * 7) % 64));
        targets.push_back(float((next_seq * 5 + t * 3 + 1) % 64));
      }
    host::train::Batch b;
    b.batch = per, b.seq_len = T;
    b.ids = Tensor::from_floats(ids, {per * T}, DType::i32);
    b.targets = Tensor::from_floats(targets, {per * T}, DType::i32);
    return b;
  }
  std::uint64_t position() const override { return std::uint64_t(next_seq); }
  void seek(std::uint64_t p) override { next_seq = std::int64_t(p); }
};

// train_extra: more [train] keys.
struct TinyRun {
  explicit TinyRun(const std::string& train_extra = "")
      : c(tiny_config("aux_loss_coeff = 0.01\n",
                      "[train]\nlr = 0.02\nmin_lr = 0.02\ntrain_iters = 30\n"
                      "max_consecutive_skipped = 2\n" +
                          train_extra + "[optimizer]\nnormuon_aux_lr = 0.01\n")) {}
  Config c;
  Registry reg = in_tree_plugins();
  std::unique_ptr<model::GptModel> model =
      host::train::build_model(c, reg, {Device::cpu(), false, 5});
  host::train::OptimizerSet opt{c, reg, model->parameters()};
  std::shared_ptr<ParallelState> ps = single_process_state();
  host::train::Trainer trainer{c, *model, opt, *ps, host::train::make_loss(c, reg)};
};

}  // namespace vpmoe::testing
