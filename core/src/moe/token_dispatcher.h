#pragma once
// How routed rows reach the experts and come back (spec/moe.md §3). The local dispatcher
// permutes within the process; the expert-parallel one (all-to-all over the ep group) implements
// the same four calls, so the MoE layer and the plugins do not change.
#include <cstdint>
#include <vector>

#include "vpmoe/router.h"
#include "vpmoe/tensor.h"

namespace vpmoe::moe {

struct Dispatched {
  Tensor x;                        // [M, H] rows grouped by (this rank's) expert
  std::vector<std::int64_t> rows;  // rows per local expert
};

class TokenDispatcher {
 public:
  virtual ~TokenDispatcher() = default;
  // The layer's experts (the router's choices index them) and how many of them run here.
  virtual int experts() const = 0;
  virtual int local_experts() const = 0;
  // x [N, H] and the routing -> the rows for this rank's experts.
  virtual Dispatched dispatch(const Tensor& x, const Routing& r) = 0;
  // Expert outputs in dispatch order [M, H] -> out [N, H]: sum over each token's k slots of
  // weight * row.
  virtual Tensor combine(const Tensor& y) = 0;
  // dout [N, H] -> d(expert outputs) [M, H], and dweights [N, k] f32.
  virtual Tensor combine_backward(const Tensor& dout, Tensor& dweights) = 0;
  // Gradient of the dispatched rows [M, H] -> dx [N, H] f32 (a token's rows summed).
  virtual Tensor dispatch_backward(const Tensor& dxp) = 0;
  // Releases the routing's index arrays and the kept expert outputs (Module::drop_saved):
  // the next call is a dispatch.
  virtual void drop_saved() {}
  // Bytes this rank has sent to other ranks since it was built (monotonic: the trainer takes
  // the difference over a step). 0 when nothing leaves the process.
  virtual std::int64_t bytes_sent() const { return 0; }
};

}  // namespace vpmoe::moe
