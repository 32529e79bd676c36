#include "moe/all_to_all_dispatcher.h"

#include "moe/row_index.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::moe {

namespace {

Tensor gathered(const Tensor& src, const Tensor& idx) {
  Tensor out = Tensor::empty({idx.numel(), src.size(1)}, src.dtype(), src.device());
  ops::gather_rows(src, idx, Tensor(), out);
  return out;
}

}  // namespace

AllToAllDispatcher::AllToAllDispatcher(int experts, std::shared_ptr<Comm> ep, Device device)
    : experts_(experts), local_(0), ep_(std::move(ep)), device_(device), sort_(experts, device) {
  if (!ep_) throw Error("moe all-to-all dispatcher: no ep group");
  if (experts_ <= 0 || experts_ % ep_->size() != 0)
    throw Error("moe all-to-all dispatcher: " + std::to_string(experts_) +
                " experts do not divide over the " + std::to_string(ep_->size()) +
                " ranks of group " + ep_->name());
  local_ = experts_ / ep_->size();
}

void AllToAllDispatcher::count_sent(std::span<const std::int64_t> rows, std::int64_t row_bytes) {
  for (std::size_t r = 0; r < rows.size(); ++r)
    if (int(r) != ep_->rank()) bytes_sent_ += rows[r] * row_bytes;
}

Dispatched AllToAllDispatcher::dispatch(const Tensor& x, const Routing& r) {
  const int P = ep_->size();
  const std::size_t p = std::size_t(P), l = std::size_t(local_);
  Dispatched sorted = sort_.dispatch(x, r);  // rows by global expert = by owner, then expert
  H_ = x.size(1);
  // Counts first: row s of the exchange is [local experts] counts from / to ep rank s.
  const std::vector<std::int64_t> ones(p, 1);
  Tensor mine = Tensor::empty({P, local_}, DType::i64, device_);
  Tensor theirs = Tensor::empty({P, local_}, DType::i64, device_);
  device_copy(mine.data(), device_, sorted.rows.data(), Device::cpu(), mine.nbytes());
  ep_->all_to_all(mine, ones, theirs, ones);
  count_sent(ones, local_ * std::int64_t(sizeof(std::int64_t)));
  std::vector<std::int64_t> got(p * l);
  device_copy(got.data(), Device::cpu(), theirs.data(), device_, theirs.nbytes());
  send_.assign(p, 0), recv_.assign(p, 0);
  for (std::size_t s = 0; s < p; ++s)
    for (std::size_t e = 0; e < l; ++e) {
      send_[s] += sorted.rows[s * l + e];
      if (got[s * l + e] < 0) throw Error("moe all-to-all dispatcher: negative row count");
      recv_[s] += got[s * l + e];
    }
  // Received rows come by source, then local expert; the experts want them by local expert,
  // then source (each source's rows keep their order).
  M_ = 0;
  std::vector<std::int64_t> start(p * l);
  for (std::size_t s = 0; s < p; ++s)
    for (std::size_t e = 0; e < l; ++e) start[s * l + e] = M_, M_ += got[s * l + e];
  Dispatched d;
  d.rows.assign(l, 0);
  std::vector<std::int32_t> by_expert, by_source(std::size_t(M_), 0);
  by_expert.reserve(std::size_t(M_));
  bool same = true;
  for (std::size_t e = 0; e < l; ++e)
    for (std::size_t s = 0; s < p; ++s) {
      d.rows[e] += got[s * l + e];
      for (std::int64_t i = 0; i < got[s * l + e]; ++i) {
        const std::int64_t from = start[s * l + e] + i;
        same = same && from == std::int64_t(by_expert.size());
        by_source[std::size_t(from)] = std::int32_t(by_expert.size());
        by_expert.push_back(std::int32_t(from));
      }
    }
  by_expert_ = same ? Tensor() : row_index(by_expert, device_);
  by_source_ = same ? Tensor() : row_index(by_source, device_);
  d.x = to_owners(sorted.x);
  return d;
}

Tensor AllToAllDispatcher::to_owners(const Tensor& rows) {
  Tensor received = Tensor::empty({M_, H_}, rows.dtype(), device_);
  ep_->all_to_all(rows, send_, received, recv_);
  count_sent(send_, H_ * std::int64_t(dtype_size(rows.dtype())));
  return by_expert_.defined() ? gathered(received, by_expert_) : received;
}

Tensor AllToAllDispatcher::from_owners(const Tensor& rows) {
  check_shape(rows, {M_, H_}, "moe all-to-all dispatcher: expert rows");
  const Tensor by_source = by_source_.defined() ? gathered(rows, by_source_) : rows;
  std::int64_t back = 0;
  for (std::int64_t n : send_) back += n;
  Tensor out = Tensor::empty({back, H_}, rows.dtype(), device_);
  ep_->all_to_all(by_source, recv_, out, send_);
  count_sent(recv_, H_ * std::int64_t(dtype_size(rows.dtype())));
  return out;
}

Tensor AllToAllDispatcher::combine(const Tensor& y) {
  return sort_.combine(from_owners(y));
}

Tensor AllToAllDispatcher::combine_backward(const Tensor& dout, Tensor& dweights) {
  return to_owners(sort_.combine_backward(dout, dweights));
}

Tensor AllToAllDispatcher::dispatch_backward(const Tensor& dxp) {
  return sort_.dispatch_backward(from_owners(dxp));
}

void AllToAllDispatcher::drop_saved() {
  sort_.drop_saved();
  by_expert_ = by_source_ = Tensor();
  send_.clear(), recv_.clear();
  M_ = 0;
}

}  // namespace vpmoe::moe
