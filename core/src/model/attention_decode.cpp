// The Attention decode API's defaults: a plugin without a decode path says so by name.
#include "vpmoe/attention.h"
#include "vpmoe/error.h"

namespace vpmoe {

AttentionCache::~AttentionCache() = default;

std::unique_ptr<AttentionCache> Attention::make_cache(std::int64_t, std::int64_t) const {
  throw Error(spec_name() + ": this attention plugin has no decode path (make_cache)");
}

Tensor Attention::forward_cached(const Context&, const Tensor&, AttentionCache&,
                                 ValueResidualState*) {
  throw Error(spec_name() + ": this attention plugin has no decode path (forward_cached)");
}

}  // namespace vpmoe
