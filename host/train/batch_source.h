#pragma once
// Where micro-batches come from: [data] source = "mock" (deterministic random tokens, for
// benchmarks and smoke runs) or "indexed" (a blend of .bin/.idx datasets). A source's position
// is the number of micro-batches it has handed out; seek() makes the next one the one it would
// have been, so a resumed run reads what an uninterrupted one reads.
#include <cstdint>
#include <memory>
#include <string>

#include "data/blended_dataset.h"
#include "vpmoe/config.h"
#include "vpmoe/tensor.h"

namespace vpmoe::host::train {

struct Batch {
  std::int64_t batch = 0, seq_len = 0;
  Tensor ids, targets;  // [batch * seq_len] i32
  Tensor mask;          // [batch * seq_len] f32, or undefined (every token counts)
  // [batch * seq_len] f32: the teacher's log-probability of each label (the teacher_logp
  // sidecar shifted with the targets; NaN where a blended dataset has none), or undefined
  // when no dataset of the source has the sidecar.
  Tensor teacher_logp;
  // [batch * seq_len] u8: the span label of each label (the PREFIX_span sidecar shifted with the
  // targets: 0 prompt, 1 analysis, 2 final; 0 for a blended dataset without one), or undefined
  // when no dataset of the source has the sidecar.
  Tensor span;
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual Batch next() = 0;  // the next micro-batch
  virtual std::uint64_t position() const = 0;
  virtual void seek(std::uint64_t position) = 0;
  // Where the micro-batch at `position` comes from (its samples, for a report about a batch
  // that made the step non-finite).
  virtual std::string describe(std::uint64_t position) const {
    return "micro-batch " + std::to_string(position);
  }
  // Whether the batches carry span labels / teacher log-probabilities (for the loss plugin).
  virtual bool has_span() const { return false; }
  virtual bool has_teacher_logp() const { return false; }
};

// Token t of sequence s of micro-batch i: a function of (seed, i, s, t) only; targets are the
// next token of a seq_len + 1 window, as a real dataset gives them.
class MockSource final : public BatchSource {
 public:
  MockSource(std::int64_t vocab, std::int64_t batch, std::int64_t seq_len, std::uint64_t seed,
             Device device);
  Batch next() override;
  std::uint64_t position() const override { return index_; }
  void seek(std::uint64_t position) override { index_ = position; }
  std::string describe(std::uint64_t position) const override;

 private:
  std::int64_t vocab_, batch_, seq_len_;
  std::uint64_t seed_, index_ = 0;
  Device device_;
};

// Micro-batches of a blend for one data-parallel rank: a step takes the next global batch of
// micro_batch x micro_batches x ranks samples, and this rank its contiguous slice of it, so the
// samples of a step do not depend on how many ranks share it. Targets are each window shifted
// by one; the mask is the sidecar's, shifted with the targets (undefined for plain text), and
// so are the teacher log-probabilities (undefined without a teacher_logp sidecar) and the span
// labels (undefined without a span sidecar). A
// dataset file that changes under the run stops it with an error naming the file
// (GptDataset::check_unchanged), before its tokens reach a batch.
class IndexedSource final : public BatchSource {
 public:
  IndexedSource(std::shared_ptr<const data::BlendedDataset> blend, std::int64_t micro_batch,
                int micro_batches, int rank, int ranks, Device device);
  Batch next() override;
  std::uint64_t position() const override { return index_; }
  void seek(std::uint64_t position) override { index_ = position; }
  // "micro-batch P: blend sample i: PREFIX sample j (...); ..." for each of its samples.
  std::string describe(std::uint64_t position) const override;
  // Global batches available.
  std::int64_t steps() const;
  bool has_span() const override { return blend_->has_span(); }
  bool has_teacher_logp() const override { return blend_->has_teacher_logp(); }

 private:
  std::int64_t first_sample(std::uint64_t position) const;  // of the micro-batch at position
  void check_unchanged(std::int64_t first) const;           // the datasets of its samples
  std::shared_ptr<const data::BlendedDataset> blend_;
  std::int64_t micro_batch_;
  int micro_batches_, rank_, ranks_;
  Device device_;
  std::uint64_t index_ = 0;
};

// The run's training micro-batches ([data] source): mock tokens, or an indexed blend of `steps`
// global batches of [data] paths, for this rank of `ranks` with micro_batches per step.
std::unique_ptr<BatchSource> make_train_source(const Config& c, std::int64_t steps,
                                               int micro_batches, int rank, int ranks,
                                               Device device);

}  // namespace vpmoe::host::train
