#include "vpmoe/module.h"

namespace vpmoe {

std::int64_t Module::parameter_count() {
  std::int64_t n = 0;
  for (Parameter* p : parameters()) n += p->value.numel();
  return n;
}

void Module::zero_grad() {
  for (Parameter* p : parameters()) p->grad.zero_();
}

}  // namespace vpmoe
