// The host-time profile (device/host_profile.h): scopes count and time only while enabled, the
// report lists the slots that ran, the most time first; RunAhead on the CPU does nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "device/host_profile.h"
#include "device/run_ahead.h"

namespace vpmoe::testing {
namespace {

void slow_part() {
  VPMOE_HOST_SCOPE("test slow part");
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
}
void quick_part() {
  VPMOE_HOST_SCOPE("test quick part");
}

TEST(HostProfile, CountsAndTimesOnlyWhileEnabled) {
  host_profile::set_enabled(false);
  host_profile::reset();
  slow_part();
  EXPECT_EQ(host_profile::report().find("test slow part"), std::string::npos);
  host_profile::set_enabled(true);
  slow_part();
  slow_part();
  quick_part();
  const std::string r = host_profile::report();
  host_profile::set_enabled(false);
  const auto slow = r.find("test slow part"), quick = r.find("test quick part");
  ASSERT_NE(slow, std::string::npos) << r;
  ASSERT_NE(quick, std::string::npos) << r;
  EXPECT_LT(slow, quick) << "the most time first:\n" << r;
  const std::string slow_line = r.substr(r.rfind('\n', slow) + 1, slow - r.rfind('\n', slow));
  EXPECT_NE(slow_line.find(" 2 calls"), std::string::npos) << slow_line;
  const double ms = std::stod(slow_line);
  EXPECT_GE(ms, 6.0) << slow_line;  // two sleeps of 3 ms
  host_profile::reset();
  EXPECT_EQ(host_profile::report(), "");
}

TEST(RunAhead, DoesNothingOnTheCpu) {
  RunAhead ahead(Device::cpu(), 2);
  for (int i = 0; i < 5; ++i) EXPECT_NO_THROW(ahead.mark());
}

}  // namespace
}  // namespace vpmoe::testing
