#include "data/gpt_dataset.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <numeric>

#include "data/float16.h"
#include "vpmoe/error.h"

namespace vpmoe::host::data {

std::uint64_t SplitMix64::next() {
  std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t SplitMix64::below(std::uint64_t n) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
}

namespace {

bool exists(const std::string& prefix) {
  return std::filesystem::exists(prefix + ".idx") && std::filesystem::exists(prefix + ".bin");
}

}  // namespace

GptDataset::GptDataset(const std::string& prefix, std::int64_t seq_len, std::int64_t samples,
                       std::uint64_t seed)
    : prefix_(prefix), seq_len_(seq_len) {
  if (seq_len < 1) throw Error("dataset " + prefix + ": seq_len must be >= 1");
  if (exists(prefix)) {
    tokens_ = std::make_unique<IndexedDatasetReader>(prefix);
  } else if (exists(prefix + "_tokens")) {
    tokens_ = std::make_unique<IndexedDatasetReader>(prefix + "_tokens");
    if (!exists(prefix + "_lossmask"))
      throw Error("dataset " + prefix + ": found " + prefix + "_tokens.bin/.idx but not " + prefix +
                  "_lossmask.bin/.idx (the Harmony loss-mask sidecar)");
    mask_ = std::make_unique<IndexedDatasetReader>(prefix + "_lossmask");
    if (exists(prefix + "_span")) span_ = std::make_unique<IndexedDatasetReader>(prefix + "_span");
  } else {
    throw Error("dataset " + prefix + ": expected " + prefix + ".bin/.idx (text) or " + prefix +
                "_tokens.bin/.idx with " + prefix + "_lossmask.bin/.idx (Harmony); found neither");
  }
  if (tokens_->dtype() != IndexedDType::i32)
    throw Error("dataset " + prefix + ": token dtype is " + dtype_name(tokens_->dtype()) +
                ", expected int32 (o200k ids)");
  if (exists(prefix + "_teacher_logp"))
    logp_ = std::make_unique<IndexedDatasetReader>(prefix + "_teacher_logp");
  const std::size_t S = tokens_->sequences();
  const std::string tokens_name = mask_ ? prefix + "_tokens" : prefix;
  // A sidecar has its token dataset's dtype and sequence lengths.
  auto check_sidecar = [&](const IndexedDatasetReader& r, const std::string& name,
                           IndexedDType dtype, const char* what) {
    if (r.dtype() != dtype)
      throw Error("dataset " + name + ": dtype is " + dtype_name(r.dtype()) + ", expected " +
                  dtype_name(dtype) + " (" + what + ")");
    bool same = r.sequences() == S;
    for (std::size_t i = 0; same && i < S; ++i) same = r.length(i) == tokens_->length(i);
    if (!same)
      throw Error("dataset " + name + ": its sequence lengths differ from " + tokens_name +
                  " (a sidecar must match its token dataset)");
  };
  if (mask_) check_sidecar(*mask_, prefix + "_lossmask", IndexedDType::u8, "the loss mask");
  if (span_) check_sidecar(*span_, prefix + "_span", IndexedDType::u8, "the span labels");
  if (logp_)
    check_sidecar(*logp_, prefix + "_teacher_logp", IndexedDType::u16,
                  "float16 bits of teacher log-probabilities");
  const auto total = static_cast<std::int64_t>(tokens_->elements());
  if (S == 0 || total == 0) throw Error("dataset " + prefix + ": it has no tokens");

  // The order must not depend on how many samples were asked for, so that a run of N steps is
  // the prefix of a run of 2N: each epoch's documents are shuffled on their own (seed, epoch),
  // and samples are shuffled in whole blocks of one epoch's worth (seed, block).
  const std::int64_t block = std::max<std::int64_t>(total / seq_len, 1);
  const std::int64_t blocks = (std::max<std::int64_t>(samples, 1) + block - 1) / block;
  const std::int64_t need = blocks * block * seq_len + 1;
  epochs_ = int((need + total - 1) / total);
  doc_order_.reserve(S * std::size_t(epochs_));
  for (int e = 0; e < epochs_; ++e) {
    std::vector<std::int32_t> epoch(S);
    std::iota(epoch.begin(), epoch.end(), 0);
    seeded_shuffle(epoch, seed + 0x9e3779b97f4a7c15ull * std::uint64_t(e));
    doc_order_.insert(doc_order_.end(), epoch.begin(), epoch.end());
  }
  doc_start_.resize(doc_order_.size() + 1);
  doc_start_[0] = 0;
  for (std::size_t j = 0; j < doc_order_.size(); ++j)
    doc_start_[j + 1] = doc_start_[j] + tokens_->length(std::size_t(doc_order_[j]));
  shuffle_.resize(std::size_t(blocks * block));
  for (std::int64_t b = 0; b < blocks; ++b) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(block));
    std::iota(order.begin(), order.end(), b * block);
    seeded_shuffle(order, seed ^ (0x5851f42d4c957f2dull * std::uint64_t(b + 1)));
    std::copy(order.begin(), order.end(), shuffle_.begin() + b * block);
  }
}

GptDataset::~GptDataset() = default;

void GptDataset::check_unchanged() const {
  tokens_->check_unchanged();
  if (mask_) mask_->check_unchanged();
  if (logp_) logp_->check_unchanged();
  if (span_) span_->check_unchanged();
}

std::string GptDataset::describe(std::int64_t i) const {
  if (i < 0 || i >= samples())
    throw Error("dataset " + prefix_ + ": sample " + std::to_string(i) + " out of range [0, " +
                std::to_string(samples()) + ")");
  const std::int64_t at = shuffle_[std::size_t(i)] * seq_len_;
  std::size_t j = std::size_t(std::upper_bound(doc_start_.begin(), doc_start_.end(), at) -
                              doc_start_.begin() - 1);
  std::string out = prefix_ + " sample " + std::to_string(i) + " (stream tokens [" +
                    std::to_string(at) + ", " + std::to_string(at + seq_len_ + 1) + "), documents ";
  std::vector<std::int32_t> docs;  // the non-empty documents under the window
  for (; j + 1 < doc_start_.size() && doc_start_[j] <= at + seq_len_; ++j)
    if (doc_start_[j + 1] > doc_start_[j]) docs.push_back(doc_order_[j]);
  constexpr std::size_t kListed = 8;  // short documents: a window may span hundreds
  for (std::size_t n = 0; n < docs.size() && n < kListed; ++n)
    out += (n ? ", " : "") + std::to_string(docs[n]);
  if (docs.size() > kListed) out += " and " + std::to_string(docs.size() - kListed) + " more";
  return out + ")";
}

void GptDataset::window(std::int64_t i, std::int32_t* tokens, std::uint8_t* mask,
                        float* teacher_logp, std::uint8_t* span) const {
  if (i < 0 || i >= samples())
    throw Error("dataset " + prefix_ + ": sample " + std::to_string(i) + " out of range [0, " +
                std::to_string(samples()) + ")");
  std::int64_t at = shuffle_[std::size_t(i)] * seq_len_;
  // The document of the stream holding offset `at`.
  std::size_t j = std::size_t(std::upper_bound(doc_start_.begin(), doc_start_.end(), at) -
                              doc_start_.begin() - 1);
  for (std::int64_t n = 0; n <= seq_len_;) {
    const std::size_t seq = std::size_t(doc_order_[j]);
    const std::int64_t off = at - doc_start_[j];
    const std::int64_t take = std::min(doc_start_[j + 1] - at, seq_len_ + 1 - n);
    const auto toks = tokens_->sequence<std::int32_t>(seq);
    std::copy_n(toks.data() + off, take, tokens + n);
    if (mask) {
      if (mask_)
        std::copy_n(mask_->sequence<std::uint8_t>(seq).data() + off, take, mask + n);
      else
        std::fill_n(mask + n, take, std::uint8_t(1));
    }
    if (teacher_logp) {
      if (logp_) {
        const std::uint16_t* h = logp_->sequence<std::uint16_t>(seq).data() + off;
        for (std::int64_t k = 0; k < take; ++k) teacher_logp[n + k] = float16_value(h[k]);
      } else {
        std::fill_n(teacher_logp + n, take, std::numeric_limits<float>::quiet_NaN());
      }
    }
    if (span) {
      if (span_)
        std::copy_n(span_->sequence<std::uint8_t>(seq).data() + off, take, span + n);
      else
        std::fill_n(span + n, take, std::uint8_t(0));
    }
    n += take, at += take, ++j;
  }
}

}  // namespace vpmoe::host::data
