#include "device/run_ahead.h"

#include "device/cuda_device.h"

namespace vpmoe {

RunAhead::RunAhead(Device d, int depth) : d_(d) {
  if (d.is_cuda() && depth > 0) events_.assign(std::size_t(depth), nullptr);
}

RunAhead::~RunAhead() {
  for (void* e : events_)
    if (e) cuda_impl::event_destroy(e);
}

void RunAhead::mark() {
  if (events_.empty()) return;
  void*& e = events_[next_];
  if (outstanding_ == events_.size()) cuda_impl::event_wait(e);  // the oldest mark
  if (!e) e = cuda_impl::event_create(d_.index);
  cuda_impl::event_record(e, d_.index);
  next_ = (next_ + 1) % events_.size();
  if (outstanding_ < events_.size()) ++outstanding_;
}

}  // namespace vpmoe
