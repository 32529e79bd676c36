#include "moe/local_dispatcher.h"

#include "device/host_profile.h"

#include "moe/row_index.h"
#include "moe/slot_sort.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"
#include "vpmoe/version.h"

namespace vpmoe::moe {

Dispatched LocalDispatcher::dispatch(const Tensor& x, const Routing& r) {
  VPMOE_HOST_SCOPE("moe dispatch");
  N_ = x.size(0), H_ = x.size(1), k_ = r.experts.size(1), dtype_ = x.dtype();
  check_shape(r.experts, {N_, k_}, "moe dispatch: routing experts");
  check_dtype(r.experts, DType::i32, "moe dispatch: routing experts");
  const std::int64_t M = N_ * k_;
  Dispatched d;
  Tensor slot_of_row;
#if VPMOE_HAS_CUDA
  // On CUDA with the router's counts on the host: the permutation is sorted on the device, so
  // the routing is never read back.
  if (device_.is_cuda() && std::int64_t(r.tokens_per_expert.size()) == experts_) {
    std::int64_t total = 0;
    for (std::int64_t c : r.tokens_per_expert) total += c;
    VPMOE_CHECK(total == M, "moe dispatch: the router's counts sum to " + std::to_string(total) +
                                ", expected " + std::to_string(M) + " routed slots");
    d.rows.assign(r.tokens_per_expert.begin(), r.tokens_per_expert.end());
    SlotOrder o = sort_slots_by_expert(r.experts, experts_);
    token_of_row_ = o.token_of_row;
    row_of_slot_ = o.row_of_slot.view({N_, k_});
    slot_of_row = o.slot_of_row;
  }
#endif
  if (!slot_of_row.defined()) {
    std::vector<std::int32_t> chosen(static_cast<std::size_t>(M));
    device_copy(chosen.data(), Device::cpu(), r.experts.data(), r.experts.device(),
                chosen.size() * sizeof(std::int32_t));
    // Stable counting sort by expert: rows of expert e in (token, slot) order.
    d.rows.assign(std::size_t(experts_), 0);
    for (std::int32_t e : chosen) {
      if (e < 0 || e >= experts_)
        throw Error("moe dispatch: expert id " + std::to_string(e) + " outside [0, " +
                    std::to_string(experts_) + ")");
      ++d.rows[std::size_t(e)];
    }
    std::vector<std::int64_t> start(std::size_t(experts_), 0);
    for (int e = 1; e < experts_; ++e)
      start[std::size_t(e)] = start[std::size_t(e - 1)] + d.rows[std::size_t(e - 1)];
    const std::size_t m = static_cast<std::size_t>(M);
    std::vector<std::int32_t> token_of_row(m), slot_of(m), row_of_slot(m);
    for (std::int64_t s = 0; s < M; ++s) {
      const std::int64_t row = start[std::size_t(chosen[std::size_t(s)])]++;
      token_of_row[std::size_t(row)] = std::int32_t(s / k_);
      slot_of[std::size_t(row)] = std::int32_t(s);
      row_of_slot[std::size_t(s)] = std::int32_t(row);
    }
    token_of_row_ = row_index(token_of_row, device_);
    row_of_slot_ = row_index(row_of_slot, device_).view({N_, k_});
    slot_of_row = row_index(slot_of, device_);
  }
  weights_ = ops::cast_to(r.weights, DType::f32);
  weight_of_row_ = Tensor::empty({M, 1}, DType::f32, device_);
  ops::gather_rows(weights_.view({M, 1}), slot_of_row, Tensor(), weight_of_row_);
  weight_of_row_ = weight_of_row_.view({M});
  d.x = Tensor::empty({M, H_}, dtype_, device_);
  ops::gather_rows(x, token_of_row_, Tensor(), d.x);
  return d;
}

Tensor LocalDispatcher::combine(const Tensor& y) {
  check_shape(y, {N_ * k_, H_}, "moe combine: expert outputs");
  y_ = y;
  Tensor out = Tensor::empty({N_, H_}, dtype_, device_);
  ops::combine_rows(y, row_of_slot_, weights_, out);
  return out;
}

Tensor LocalDispatcher::combine_backward(const Tensor& dout, Tensor& dweights) {
  check_shape(dout, {N_, H_}, "moe combine backward: dout");
  dweights = Tensor::empty({N_, k_}, DType::f32, device_);
  ops::combine_rows_weight_grad(dout, y_, row_of_slot_, dweights);
  Tensor dy = Tensor::empty({N_ * k_, H_}, dtype_, device_);
  ops::gather_rows(dout, token_of_row_, weight_of_row_, dy);
  y_ = Tensor();
  return dy;
}

Tensor LocalDispatcher::dispatch_backward(const Tensor& dxp) {
  check_shape(dxp, {N_ * k_, H_}, "moe dispatch backward: dx");
  Tensor dx = Tensor::empty({N_, H_}, DType::f32, device_);
  ops::combine_rows(dxp, row_of_slot_, Tensor(), dx);  // a token's k rows, in slot order
  return dx;
}

}  // namespace vpmoe::moe
