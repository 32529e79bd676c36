#include "moe/local_dispatcher.h"

#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::moe {

namespace {

Tensor ids(const std::vector<float>& v, Device d) {
  return Tensor::from_floats(v, {std::int64_t(v.size())}, DType::i32, d);
}

}  // namespace

Dispatched LocalDispatcher::dispatch(const Tensor& x, const Routing& r) {
  N_ = x.size(0), H_ = x.size(1), k_ = r.experts.size(1), dtype_ = x.dtype();
  check_shape(r.experts, {N_, k_}, "moe dispatch: routing experts");
  const std::vector<float> chosen = r.experts.to_floats();
  // Stable counting sort by expert: rows of expert e in (token, slot) order.
  Dispatched d;
  d.rows.assign(std::size_t(experts_), 0);
  for (float e : chosen) {
    if (e < 0 || e >= float(experts_)) throw Error("moe dispatch: expert id out of range");
    ++d.rows[std::size_t(e)];
  }
  std::vector<std::int64_t> start(std::size_t(experts_), 0);
  for (int e = 1; e < experts_; ++e)
    start[std::size_t(e)] = start[std::size_t(e - 1)] + d.rows[std::size_t(e - 1)];
  const std::int64_t M = N_ * k_;
  const std::size_t m = static_cast<std::size_t>(M);
  std::vector<float> token_of_row(m), slot_of_row(m), row_of_slot(m);
  for (std::int64_t s = 0; s < M; ++s) {
    const std::int64_t row = start[std::size_t(chosen[std::size_t(s)])]++;
    token_of_row[std::size_t(row)] = float(s / k_);
    slot_of_row[std::size_t(row)] = float(s);
    row_of_slot[std::size_t(s)] = float(row);
  }
  token_of_row_ = ids(token_of_row, device_);
  slot_of_row_ = ids(slot_of_row, device_);
  row_of_slot_ = ids(row_of_slot, device_);
  weights_ = ops::cast_to(r.weights.view({N_, 1, k_}), dtype_);
  // The embedding ops move f32 rows (the CPU ones take only f32): other dtypes go through f32.
  Tensor xp = Tensor::empty({M, H_}, DType::f32, device_);
  ops::embedding_forward(token_of_row_, ops::cast_to(x, DType::f32), xp);
  d.x = ops::cast_to(xp, dtype_);
  return d;
}

Tensor LocalDispatcher::combine(const Tensor& y) {
  const std::int64_t M = N_ * k_;
  check_shape(y, {M, H_}, "moe combine: expert outputs");
  Tensor slots = Tensor::empty({M, H_}, DType::f32, device_);
  ops::embedding_forward(row_of_slot_, ops::cast_to(y, DType::f32), slots);
  y_slots_ = ops::cast_to(slots, dtype_).view({N_, k_, H_});
  Tensor out = Tensor::empty({N_, 1, H_}, dtype_, device_);
  ops::gemm(weights_, y_slots_, out);
  return out.view({N_, H_});
}

Tensor LocalDispatcher::combine_backward(const Tensor& dout, Tensor& dweights) {
  check_shape(dout, {N_, H_}, "moe combine backward: dout");
  const Tensor g = ops::cast_to(dout, dtype_).view({N_, 1, H_});
  dweights = Tensor::empty({N_, 1, k_}, DType::f32, device_);
  ops::gemm(g, y_slots_, dweights, false, true);  // [1, H] . [k, H]^T
  dweights = dweights.view({N_, k_});
  Tensor dslots = Tensor::empty({N_, k_, H_}, dtype_, device_);
  ops::gemm(weights_, g, dslots, true, false);  // [k, 1] . [1, H]
  Tensor dy = Tensor::empty({N_ * k_, H_}, DType::f32, device_);
  ops::embedding_forward(slot_of_row_, ops::cast_to(dslots.view({N_ * k_, H_}), DType::f32), dy);
  y_slots_ = Tensor();
  return ops::cast_to(dy, dtype_);
}

Tensor LocalDispatcher::dispatch_backward(const Tensor& dxp) {
  check_shape(dxp, {N_ * k_, H_}, "moe dispatch backward: dx");
  Tensor dx = Tensor::zeros({N_, H_}, DType::f32, device_);
  ops::embedding_backward(token_of_row_, ops::cast_to(dxp, DType::f32), dx);
  return dx;
}

}  // namespace vpmoe::moe
