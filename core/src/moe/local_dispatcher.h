#pragma once
// The single-process dispatcher: a stable sort of the N k (token, slot) pairs by expert, row
// gathers and scatters through the embedding ops (deterministic), and the weighted combine
// as a per-token [1, k] x [k, H] batched GEMM.
#include "moe/token_dispatcher.h"

namespace vpmoe::moe {

class LocalDispatcher final : public TokenDispatcher {
 public:
  LocalDispatcher(int experts, Device device) : experts_(experts), device_(device) {}
  Dispatched dispatch(const Tensor& x, const Routing& r) override;
  Tensor combine(const Tensor& y) override;
  Tensor combine_backward(const Tensor& dout, Tensor& dweights) override;
  Tensor dispatch_backward(const Tensor& dxp) override;

 private:
  int experts_;
  Device device_;
  std::int64_t N_ = 0, k_ = 0, H_ = 0;
  DType dtype_ = DType::f32;
  Tensor token_of_row_;  // [M] i32: the token each dispatched row came from
  Tensor row_of_slot_;   // [N k] i32: the dispatched row of each (token, slot)
  Tensor slot_of_row_;   // [M] i32: the inverse
  Tensor weights_;       // [N, 1, k] in the rows' dtype
  Tensor y_slots_;       // [N, k, H] expert outputs by slot (kept for dweights)
};

}  // namespace vpmoe::moe
