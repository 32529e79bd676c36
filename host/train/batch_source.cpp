#include "train/batch_source.h"

#include <algorithm>
#include <random>
#include <vector>

#include "vpmoe/error.h"

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

std::string MockSource::describe(std::uint64_t position) const {
  return "mock micro-batch " + std::to_string(position) + " (seed " + std::to_string(seed_) + ")";
}

}  // namespace vpmoe::host::train

namespace vpmoe::host::train {

IndexedSource::IndexedSource(std::shared_ptr<const data::BlendedDataset> blend,
                             std::int64_t micro_batch, int micro_batches, int rank, int ranks,
                             Device device)
    : blend_(std::move(blend)),
      micro_batch_(micro_batch),
      micro_batches_(micro_batches),
      rank_(rank),
      ranks_(ranks),
      device_(device) {}

std::int64_t IndexedSource::steps() const {
  return blend_->samples() / (micro_batch_ * micro_batches_ * ranks_);
}

std::int64_t IndexedSource::first_sample(std::uint64_t position) const {
  const std::int64_t B = micro_batch_, step = std::int64_t(position) / micro_batches_,
                     j = std::int64_t(position) % micro_batches_;
  return step * B * micro_batches_ * ranks_ + std::int64_t(rank_) * B * micro_batches_ + j * B;
}

std::string IndexedSource::describe(std::uint64_t position) const {
  const std::int64_t first = first_sample(position);
  std::string out = "micro-batch " + std::to_string(position) + ": ";
  for (std::int64_t b = 0; b < micro_batch_ && first + b < blend_->samples(); ++b)
    out += (b ? "; " : "") + blend_->describe(first + b);
  return out;
}

// Every micro-batch, before its reads (a file truncated under the mapping would fault them)
// and after (a write during the copy): tokens of a changed file never leave next(). Measured on
// the dev box (slow, sandboxed syscalls): 12-18 us per dataset (an fstat and a stat of each
// file), so next() of 2 x 2048 tokens takes ~35 us instead of ~12; a step takes milliseconds
// on the CPU and 70 ms and more on a GPU. Checking every N batches instead would let up to N - 1
// batches of changed tokens through.
void IndexedSource::check_unchanged(std::int64_t first) const {
  std::vector<int> seen;
  for (std::int64_t b = 0; b < micro_batch_; ++b) {
    const int d = blend_->dataset_of(first + b);
    if (std::find(seen.begin(), seen.end(), d) != seen.end()) continue;
    seen.push_back(d);
    blend_->datasets()[std::size_t(d)]->check_unchanged();
  }
}

Batch IndexedSource::next() {
  const std::int64_t T = blend_->datasets().front()->seq_len(), B = micro_batch_;
  const std::int64_t first = first_sample(index_);
  if (first + B > blend_->samples())
    throw Error("data: the blend has " + std::to_string(blend_->samples()) +
                " samples; micro-batch " + std::to_string(index_) + " needs samples up to " +
                std::to_string(first + B));
  check_unchanged(first);
  const bool masked = blend_->has_loss_mask(), kd = blend_->has_teacher_logp(),
             spans = blend_->has_span();
  std::vector<std::int32_t> w(std::size_t(T + 1));
  std::vector<std::uint8_t> wm(std::size_t(T + 1));
  std::vector<float> wl(kd ? std::size_t(T + 1) : 0);
  std::vector<std::uint8_t> ws(spans ? std::size_t(T + 1) : 0);
  std::vector<float> ids(std::size_t(B * T)), targets(std::size_t(B * T)), mask, logp, span;
  if (masked) mask.resize(std::size_t(B * T));
  if (kd) logp.resize(std::size_t(B * T));
  if (spans) span.resize(std::size_t(B * T));
  for (std::int64_t b = 0; b < B; ++b) {
    blend_->window(first + b, w.data(), wm.data(), kd ? wl.data() : nullptr,
                   spans ? ws.data() : nullptr);
    for (std::int64_t t = 0; t < T; ++t) {
      const std::size_t at = std::size_t(b * T + t);
      ids[at] = float(w[std::size_t(t)]);
      targets[at] = float(w[std::size_t(t + 1)]);
      if (masked) mask[at] = float(wm[std::size_t(t + 1)]);
      if (kd) logp[at] = wl[std::size_t(t + 1)];  // the label's: token t + 1's value
      if (spans) span[at] = float(ws[std::size_t(t + 1)]);
    }
  }
  check_unchanged(first);
  ++index_;
  Batch out;
  out.batch = B, out.seq_len = T;
  out.ids = Tensor::from_floats(ids, {B * T}, DType::i32, device_);
  out.targets = Tensor::from_floats(targets, {B * T}, DType::i32, device_);
  if (masked) out.mask = Tensor::from_floats(mask, {B * T}, DType::f32, device_);
  if (kd) out.teacher_logp = Tensor::from_floats(logp, {B * T}, DType::f32, device_);
  if (spans) out.span = Tensor::from_floats(span, {B * T}, DType::u8, device_);
  return out;
}

std::unique_ptr<BatchSource> make_train_source(const Config& c, std::int64_t steps,
                                               int micro_batches, int rank, int ranks,
                                               Device device) {
  const int mb = c.train.micro_batch_size;
  const std::int64_t T = c.attention.max_sequence_length;
  if (c.data.source == "mock")
    return std::make_unique<MockSource>(c.tokenizer.vocab_size, mb, T, c.run.seed + rank, device);
  const std::int64_t samples = steps * c.train.global_batch_size;
  auto blend =
      std::make_shared<data::BlendedDataset>(c.data.paths, c.data.weights, T, samples, c.run.seed);
  return std::make_unique<IndexedSource>(blend, mb, micro_batches, rank, ranks, device);
}

}  // namespace vpmoe::host::train
