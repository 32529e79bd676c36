#pragma once
// Nesting modules' checkpoint state (Module::state) under name prefixes, and taking it apart.
#include <map>
#include <string>

#include "vpmoe/tensor.h"

namespace vpmoe::model {

using StateMap = std::map<std::string, Tensor>;

inline void add_prefixed(StateMap& out, const std::string& prefix, const StateMap& in) {
  for (const auto& [k, t] : in) out[prefix + k] = t;
}

// The entries of in under prefix, with the prefix removed.
inline StateMap take_prefixed(const StateMap& in, const std::string& prefix) {
  StateMap out;
  for (auto it = in.lower_bound(prefix); it != in.end() && it->first.rfind(prefix, 0) == 0; ++it)
    out[it->first.substr(prefix.size())] = it->second;
  return out;
}

}  // namespace vpmoe::model
