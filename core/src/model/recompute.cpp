#include "model/recompute.h"

#include "vpmoe/error.h"

namespace vpmoe::model {

Recompute recompute_from_name(const std::string& name) {
  for (Recompute r : {Recompute::none, Recompute::moe, Recompute::attention, Recompute::full})
    if (name == recompute_name(r)) return r;
  throw Error("recompute: expected \"none\", \"moe\", \"attention\" or \"full\", found \"" + name +
              "\"");
}

const char* recompute_name(Recompute r) {
  switch (r) {
    case Recompute::none:
      return "none";
    case Recompute::moe:
      return "moe";
    case Recompute::attention:
      return "attention";
    case Recompute::full:
      return "full";
  }
  return "none";
}

}  // namespace vpmoe::model
