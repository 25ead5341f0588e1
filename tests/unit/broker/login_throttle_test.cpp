#include "broker/login_throttle.hpp"

#include <gtest/gtest.h>

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;

class LoginThrottleTest : public ::testing::Test {
 protected:
  TestClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  LoginThrottle throttle_{{3, 10min, 15min}, clock_};
};

TEST_F(LoginThrottleTest, LocksAUserAfterMaxFailuresAndUnlocksAfterTheLockout) {
  EXPECT_FALSE(throttle_.record_failure("alice", "10.0.0.1"));
  EXPECT_FALSE(throttle_.record_failure("alice", "10.0.0.2"));
  EXPECT_FALSE(throttle_.locked("alice", "10.0.0.3"));
  EXPECT_TRUE(throttle_.record_failure("alice", "10.0.0.3"));
  EXPECT_TRUE(throttle_.locked("alice", "10.0.0.9"));
  EXPECT_FALSE(throttle_.locked("bob", "10.0.0.9"));
  clock_.advance(15min + 1s);
  EXPECT_FALSE(throttle_.locked("alice", "10.0.0.9"));
}

TEST_F(LoginThrottleTest, LocksASourceGuessingManyUsers) {
  throttle_.record_failure("u1", "192.0.2.7");
  throttle_.record_failure("u2", "192.0.2.7");
  throttle_.record_failure("u3", "192.0.2.7");
  EXPECT_TRUE(throttle_.locked("anyone", "192.0.2.7"));
  EXPECT_FALSE(throttle_.locked("anyone", "192.0.2.8"));
}

TEST_F(LoginThrottleTest, FailuresOutsideTheWindowDoNotCount) {
  throttle_.record_failure("alice", "a");
  throttle_.record_failure("alice", "b");
  clock_.advance(11min);
  EXPECT_FALSE(throttle_.record_failure("alice", "c"));
  EXPECT_FALSE(throttle_.locked("alice", "d"));
}

TEST_F(LoginThrottleTest, SuccessClearsTheUserButNotTheSource) {
  throttle_.record_failure("alice", "s");
  throttle_.record_failure("alice", "s");
  throttle_.record_success("alice");
  EXPECT_FALSE(throttle_.record_failure("alice", "t"));
  EXPECT_TRUE(throttle_.record_failure("bob", "s"));  // the source's third failure
}

}  // namespace
}  // namespace sekisho::broker
