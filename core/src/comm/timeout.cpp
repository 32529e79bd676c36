#include <atomic>

#include "vpmoe/comm.h"

namespace vpmoe {
namespace {
std::atomic<double> timeout_s{600.0};
}

void set_comm_timeout(double seconds) {
  timeout_s = seconds;
}
double comm_timeout() {
  return timeout_s;
}

}  // namespace vpmoe
