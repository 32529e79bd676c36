#include "train/grad_sync.h"

#include <map>

#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::host::train {
namespace {

constexpr std::int64_t kAlign = 64;  // elements: 256 bytes of f32

std::int64_t aligned(std::int64_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

GradSync::GradSync(const std::vector<std::vector<Parameter*>>& stages, const ParallelState& ps,
                   GradSyncOptions o)
    : o_(o), dp_(ps.dp->size()) {
  if (o_.bucket_size < 1) throw Error("grad sync: bucket size must be >= 1");
  std::map<const Parameter*, int> last;
  for (std::size_t s = 0; s < stages.size(); ++s)
    for (const Parameter* p : stages[s]) last[p] = int(s);
  // Fill a dense and an expert bucket side by side, each closed when the next grad would
  // overflow it; the layouts (offsets) first, the buffers once a bucket is complete.
  struct Open {
    Bucket b;
    std::vector<std::int64_t> offsets;
    std::int64_t used = 0;
  };
  Open open[2];
  open[0].b.comm = ps.dp.get();
  open[1].b.comm = ps.expert_dp.get(), open[1].b.expert = true;
  auto close = [&](Open& at) {
    if (at.b.params.empty()) return;
    Bucket b = at.b;
    b.buffer = Tensor::zeros({at.used}, DType::f32, b.params.front()->grad.device());
    for (std::size_t i = 0; i < b.params.size(); ++i) {
      Parameter* p = b.params[i];
      Tensor view =
          b.buffer.slice(at.offsets[i], at.offsets[i] + p->grad.numel()).view(p->grad.shape());
      view.copy_from(p->grad);
      p->grad = view;
    }
    buckets_.push_back(std::move(b));
    at.b.params.clear(), at.offsets.clear(), at.used = 0;
  };
  for (std::size_t s = 0; s < stages.size(); ++s)
    for (Parameter* p : stages[s]) {
      if (last.at(p) != int(s)) continue;
      last[p] = -1;  // placed
      if (!p->grad.defined() || p->grad.dtype() != DType::f32)
        throw Error("grad sync: " + p->name + " has no f32 grad");
      Open& at = open[p->sharding == Sharding::expert ? 1 : 0];
      if (!at.b.params.empty() && at.used + aligned(p->grad.numel()) > o_.bucket_size) close(at);
      at.b.params.push_back(p);
      at.b.ready_stage = int(s);
      at.offsets.push_back(at.used);
      at.used += aligned(p->grad.numel());
    }
  close(open[0]);
  close(open[1]);
}

bool GradSync::reduces() const {
  for (const Bucket& b : buckets_)
    if (runs_collectives(*b.comm)) return true;
  return false;
}

void GradSync::zero_grads() {
  for (Bucket& b : buckets_) b.buffer.zero_();
}

void GradSync::begin() {
  for (Bucket& b : buckets_) b.started = false, b.pending.reset();
}

void GradSync::start(Bucket& b) {
  b.started = true;
  if (runs_collectives(*b.comm)) b.pending = b.comm->all_reduce_sum(b.buffer, /*async=*/true);
}

void GradSync::stage_done(int stage) {
  if (!o_.overlap) return;
  for (Bucket& b : buckets_)
    if (!b.started && b.ready_stage <= stage) start(b);
}

void GradSync::finish() {
  for (Bucket& b : buckets_)
    if (!b.started) start(b);
  const float inv = 1.f / float(dp_);
  for (Bucket& b : buckets_) {
    if (b.pending) b.pending->wait();
    b.pending.reset();
    if (dp_ > 1) ops::scale(b.buffer, inv, b.buffer);
  }
}

}  // namespace vpmoe::host::train
