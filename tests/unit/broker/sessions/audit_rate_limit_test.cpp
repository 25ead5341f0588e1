#include "broker/sessions/audit_rate_limit.hpp"

#include <gtest/gtest.h>

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;
using Verdict = AuditRateLimit::Verdict;

class AuditRateLimitTest : public ::testing::Test {
 protected:
  TestClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  AuditRateLimit limit_{3, 60s, clock_};
};

TEST_F(AuditRateLimitTest, AuditsUpToTheLimitThenSummarisesOnceThenSuppresses) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limit_.admit("192.0.2.1").verdict, Verdict::kAudit);
  EXPECT_EQ(limit_.admit("192.0.2.1").verdict, Verdict::kSummarise);
  EXPECT_EQ(limit_.admit("192.0.2.1").verdict, Verdict::kSuppress);
  EXPECT_EQ(limit_.admit("192.0.2.1").verdict, Verdict::kSuppress);
  EXPECT_EQ(limit_.admit("192.0.2.2").verdict, Verdict::kAudit);  // another source: its own
}

TEST_F(AuditRateLimitTest, ANewWindowAuditsAgainAndReportsWhatWasHeldBack) {
  for (int i = 0; i < 6; ++i) (void)limit_.admit("s");
  clock_.advance(59s);
  EXPECT_EQ(limit_.admit("s").verdict, Verdict::kSuppress);
  clock_.advance(1s);
  const auto d = limit_.admit("s");
  EXPECT_EQ(d.verdict, Verdict::kAudit);
  EXPECT_EQ(d.suppressed_before, 4u);  // the summarised one and three silent ones
  EXPECT_EQ(limit_.admit("s").suppressed_before, 0u);
}

}  // namespace
}  // namespace sekisho::broker
