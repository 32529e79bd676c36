#include "train/batch_source.h"

#include <random>
#include <vector>

namespace vpmoe::host::train {

MockSource::MockSource(std::int64_t vocab, std::int64_t batch, std::int64_t seq_len,
                       std::uint64_t seed, Device device)
    : vocab_(vocab), batch_(batch), seq_len_(seq_len), seed_(seed), device_(device) {}

Batch MockSource::next() {
  const std::int64_t N = batch_ * seq_len_;
  std::vector<float> ids(static_cast<std::size_t>(N)), targets(static_cast<std::size_t>(N));
  for (std::int64_t s = 0; s < batch_; ++s) {
    std::mt19937_64 g(seed_ ^ (index_ * 0x9e3779b97f4a7c15ull) ^ std::uint64_t(s + 1) << 32);
    std::uniform_int_distribution<std::int64_t> tok(0, vocab_ - 1);
    std::int64_t cur = tok(g);
    for (std::int64_t t = 0; t < seq_len_; ++t) {
      const std::int64_t nxt = tok(g);
      ids[std::size_t(s * seq_len_ + t)] = float(cur);
      targets[std::size_t(s * seq_len_ + t)] = float(nxt);
      cur = nxt;
    }
  }
  ++index_;
  Batch b;
  b.batch = batch_, b.seq_len = seq_len_;
  b.ids = Tensor::from_floats(ids, {N}, DType::i32, device_);
  b.targets = Tensor::from_floats(targets, {N}, DType::i32, device_);
  return b;
}

}  // namespace vpmoe::host::train
