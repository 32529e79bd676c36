#pragma once
// One exception type for the SDK; messages say what was expected and where.
#include <stdexcept>
#include <string>

namespace vpmoe {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// VPMOE_CHECK(cond, msg): throws vpmoe::Error naming the failed condition.
#define VPMOE_CHECK(cond, msg)                                                             \
  do {                                                                                     \
    if (!(cond)) throw ::vpmoe::Error(std::string(msg) + " (check `" #cond "` failed at " + \
                                      __FILE__ + ":" + std::to_string(__LINE__) + ")");     \
  } while (0)

}  // namespace vpmoe
