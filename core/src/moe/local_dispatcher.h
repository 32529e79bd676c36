#pragma once
// The single-process dispatcher: a stable sort of the N k (token, slot) pairs by expert, then
// row gathers and the weighted k-row combine (ops::gather_rows / combine_rows), deterministic
// and in the rows' dtype with fp32 accumulation.
#include "moe/token_dispatcher.h"

namespace vpmoe::moe {

class LocalDispatcher final : public TokenDispatcher {
 public:
  LocalDispatcher(int experts, Device device) : experts_(experts), device_(device) {}
  int experts() const override { return experts_; }
  int local_experts() const override { return experts_; }
  Dispatched dispatch(const Tensor& x, const Routing& r) override;
  Tensor combine(const Tensor& y) override;
  Tensor combine_backward(const Tensor& dout, Tensor& dweights) override;
  Tensor dispatch_backward(const Tensor& dxp) override;
  void drop_saved() override {
    token_of_row_ = row_of_slot_ = weights_ = weight_of_row_ = y_ = Tensor();
  }

 private:
  int experts_;
  Device device_;
  std::int64_t N_ = 0, k_ = 0, H_ = 0;
  DType dtype_ = DType::f32;
  Tensor token_of_row_;   // [M] i32: the token each dispatched row came from
  Tensor row_of_slot_;    // [N, k] i32: the dispatched row of each (token, slot)
  Tensor weights_;        // [N, k] f32 combine weights
  Tensor weight_of_row_;  // [M] f32: the weight of each dispatched row
  Tensor y_;              // [M, H] expert outputs (kept for dweights)
};

}  // namespace vpmoe::moe
