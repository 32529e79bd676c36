#include "train/distributed_optimizer.h"

#include <algorithm>

#include "vpmoe/error.h"

namespace vpmoe::host::train {
namespace {

// A rank's piece as flat elements of a parameter, and where it sits in that rank's packed
// stream of all its pieces.
struct Segment {
  Parameter* p;
  std::int64_t begin, end, packed;
};

std::vector<Segment> segments(const std::vector<Parameter*>& params,
                              const std::vector<ShardPiece>& pieces, ShardUnit u) {
  std::vector<Segment> out;
  std::int64_t at = 0;
  for (const ShardPiece& piece : pieces) {
    Parameter* p = params[piece.param];
    const std::int64_t per = unit_elements(*p, u);
    out.push_back(Segment{p, piece.begin * per, piece.end * per, at});
    at += (piece.end - piece.begin) * per;
  }
  return out;
}

std::int64_t packed_length(const std::vector<Segment>& s) {
  return s.empty() ? 0 : s.back().packed + (s.back().end - s.back().begin);
}

// Copies between a parameter's flat values and a window [w, w + c) of a packed stream held in
// buf at offset `base` (to_buf: pack, else unpack).
void move_window(const std::vector<Segment>& segs, std::int64_t w, std::int64_t c,
                 const Tensor& buf, std::int64_t base, bool to_buf) {
  for (const Segment& s : segs) {
    const std::int64_t lo = std::max(w, s.packed), hi = std::min(w + c, s.packed + s.end - s.begin);
    if (lo >= hi) continue;
    Tensor packed = buf.slice(base + lo - w, base + hi - w);
    Tensor value = s.p->value.view({-1}).slice(s.begin + lo - s.packed, s.begin + hi - s.packed);
    if (to_buf)
      packed.copy_from(value);
    else
      value.copy_from(packed);
  }
}

}  // namespace

DistributedOptimizer::DistributedOptimizer(std::unique_ptr<Optimizer> inner,
                                           const ParallelState& ps, std::int64_t gather_elements)
    : inner_(std::move(inner)),
      ps_(ps),
      gather_elements_(std::max<std::int64_t>(1, gather_elements)) {
  if (!inner_) throw Error("distributed optimizer: no optimizer to wrap");
  unit_ = inner_->shard_unit();
}

void DistributedOptimizer::add_parameters(const std::vector<Parameter*>& params) {
  if (!params_.empty()) throw Error("distributed optimizer: parameters are added once");
  params_ = params;
  Share dense{ps_.dp.get(), {}, {}}, expert{ps_.expert_dp.get(), {}, {}};
  for (Parameter* p : params)
    (p->sharding == Sharding::expert ? expert : dense).params.push_back(p);
  for (Share* s : {&dense, &expert}) {
    if (s->params.empty()) continue;
    s->plan = plan_shards(s->params, unit_, s->comm->size());
    shares_.push_back(std::move(*s));
  }
  // This rank's pieces, in the order the parameters came (the plain optimizer's order).
  std::vector<Owned> mine;
  for (const Share& s : shares_)
    for (const ShardPiece& piece : s.plan[std::size_t(s.comm->rank())]) {
      Parameter* src = s.params[piece.param];
      mine.push_back(Owned{src, piece, shard_parameter(*src, unit_, piece.begin, piece.end)});
    }
  auto order = [&](const Parameter* p) {
    return std::find(params_.begin(), params_.end(), p) - params_.begin();
  };
  std::stable_sort(mine.begin(), mine.end(), [&](const Owned& a, const Owned& b) {
    return order(a.source) < order(b.source);
  });
  std::vector<Parameter*> views;
  for (Owned& o : mine) {
    owned_.push_back(std::move(o));
    views.push_back(&owned_.back().view);
  }
  inner_->add_parameters(views);
}

// The grads may have moved since the views were made (grad_sync re-points them into its
// buckets): the views follow their parameters' current tensors.
void DistributedOptimizer::refresh_views() {
  for (Owned& o : owned_) {
    const Parameter fresh = shard_parameter(*o.source, unit_, o.piece.begin, o.piece.end);
    o.view.value = fresh.value, o.view.grad = fresh.grad, o.view.compute = fresh.compute;
  }
}

void DistributedOptimizer::step(const OptimizerStep& s) {
  refresh_views();
  inner_->step(s);
  for (const Share& share : shares_) {
    if (!runs_collectives(*share.comm)) continue;
    gather(share);
    for (Parameter* p : share.params) p->sync_compute();
  }
}

void DistributedOptimizer::gather(const Share& s) {
  const int size = s.comm->size(), me = s.comm->rank();
  std::vector<std::vector<Segment>> segs;
  std::int64_t longest = 0;
  for (int r = 0; r < size; ++r) {
    segs.push_back(segments(s.params, s.plan[std::size_t(r)], unit_));
    longest = std::max(longest, packed_length(segs.back()));
  }
  if (longest == 0) return;
  // Every rank sends the same count: its packed pieces, padded to the longest rank's.
  const std::int64_t chunk = std::clamp<std::int64_t>(gather_elements_ / size, 1, longest);
  const Device dev = s.params.front()->value.device();
  const Tensor send = Tensor::empty({chunk}, DType::f32, dev);
  const Tensor recv = Tensor::empty({chunk * size}, DType::f32, dev);
  for (std::int64_t w = 0; w < longest; w += chunk) {
    const std::int64_t c = std::min(chunk, longest - w);
    move_window(segs[std::size_t(me)], w, c, send, 0, true);
    const Tensor out = recv.slice(0, c * size);
    s.comm->all_gather(send.slice(0, c), out);
    for (int r = 0; r < size; ++r)
      if (r != me) move_window(segs[std::size_t(r)], w, c, out, r * c, false);
  }
}

std::map<std::string, Tensor> DistributedOptimizer::state() const {
  return inner_->state();
}

void DistributedOptimizer::load_state(const std::map<std::string, Tensor>& state) {
  refresh_views();
  inner_->load_state(state);
}

}  // namespace vpmoe::host::train
