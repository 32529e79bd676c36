#pragma once
// Where micro-batches come from: [data] source = "mock" (deterministic random tokens, for
// benchmarks and smoke runs) here; the indexed datasets arrive with the data issue's loader.
#include <cstdint>

#include "vpmoe/tensor.h"

namespace vpmoe::host::train {

struct Batch {
  std::int64_t batch = 0, seq_len = 0;
  Tensor ids, targets;  // [batch * seq_len] i32
  Tensor mask;          // [batch * seq_len] f32, or undefined (every token counts)
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual Batch next() = 0;  // the next micro-batch
};

// Token t of sequence s of micro-batch i: a function of (seed, i, s, t) only; targets are the
// next token of a seq_len + 1 window, as a real dataset gives them.
class MockSource final : public BatchSource {
 public:
  MockSource(std::int64_t vocab, std::int64_t batch, std::int64_t seq_len, std::uint64_t seed,
             Device device);
  Batch next() override;

 private:
  std::int64_t vocab_, batch_, seq_len_;
  std::uint64_t seed_, index_ = 0;
  Device device_;
};

}  // namespace vpmoe::host::train
