#pragma once
// The expert-parallel dispatcher (spec/moe.md §3, spec/training.md §4): expert e lives on rank
// e / (E/P) of the ep group (P ranks). This rank's N k (token, slot) pairs are sorted by expert
// exactly as the local dispatcher sorts them (it does that part), the per-(rank, local expert)
// row counts are exchanged, the rows travel to their owners in the activation dtype, and the
// owner groups them by local expert, then source rank, then the source's order: the order one
// process would give the whole ep group's batch. The way back is the mirror image, and the
// weighted combine runs where the tokens live, with the local dispatcher's ops and order.
// Only the Comm interface moves data, so the same code runs over MPI (CPU) and NCCL (CUDA).
#include <memory>
#include <vector>

#include "moe/local_dispatcher.h"
#include "vpmoe/comm.h"

namespace vpmoe::moe {

class AllToAllDispatcher final : public TokenDispatcher {
 public:
  // experts: the layer's, a multiple of ep->size().
  AllToAllDispatcher(int experts, std::shared_ptr<Comm> ep, Device device);
  int experts() const override { return experts_; }
  int local_experts() const override { return local_; }
  Dispatched dispatch(const Tensor& x, const Routing& r) override;
  Tensor combine(const Tensor& y) override;
  Tensor combine_backward(const Tensor& dout, Tensor& dweights) override;
  Tensor dispatch_backward(const Tensor& dxp) override;
  std::int64_t bytes_sent() const override { return bytes_sent_; }
  void drop_saved() override;

 private:
  // Rows in this rank's sorted order [N k, H] -> this rank's experts' rows, grouped [M, H].
  Tensor to_owners(const Tensor& rows);
  // The inverse: this rank's experts' rows [M, H] -> back where they came from [N k, H].
  Tensor from_owners(const Tensor& rows);
  void count_sent(std::span<const std::int64_t> rows, std::int64_t row_bytes);

  int experts_, local_;
  std::shared_ptr<Comm> ep_;
  Device device_;
  LocalDispatcher sort_;                   // the local sort, gathers and combine
  std::vector<std::int64_t> send_, recv_;  // rows to / from each ep rank
  std::int64_t H_ = 0, M_ = 0;             // hidden size; rows received
  Tensor by_expert_;  // [M] i32: the received row at each grouped position (undefined: same)
  Tensor by_source_;  // [M] i32: the grouped position of each received row
  std::int64_t bytes_sent_ = 0;
};

}  // namespace vpmoe::moe
