#include "broker/auth/login_throttle.hpp"

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

// LDAP and AD match login names without regard to case: "Alice" and "ALICE" are one person and
// must share one budget, or each spelling gets its own max_failures guesses.
TEST_F(LoginThrottleTest, CaseVariantsOfANameShareOneBudget) {
  EXPECT_FALSE(throttle_.record_failure("Alice", "10.0.0.1"));
  EXPECT_FALSE(throttle_.record_failure("ALICE", "10.0.0.2"));
  EXPECT_TRUE(throttle_.record_failure("alice", "10.0.0.3"));
  EXPECT_TRUE(throttle_.locked("aLiCe", "10.0.0.9"));
}

TEST_F(LoginThrottleTest, SuccessUnderAnotherSpellingClearsTheName) {
  throttle_.record_failure("Alice", "a");
  throttle_.record_failure("Alice", "b");
  throttle_.record_success("alice");
  EXPECT_FALSE(throttle_.record_failure("Alice", "c"));
}

// When the table is full, the entry touched longest ago goes, whatever its name sorts as: an
// attacker who fills the table with new names must not free the lockout of a recent source.
TEST_F(LoginThrottleTest, AFullTableDropsTheOldestEntryNotTheFirstByName) {
  throttle_.record_failure("old", "t-other");  // the oldest two entries
  for (int i = 0; i < 3; ++i) throttle_.record_failure("u" + std::to_string(i), "s9");
  ASSERT_TRUE(throttle_.locked("anyone", "s9"));
  // Six entries so far; "source:s9" sorts before all others. Fill the table with new user names.
  for (std::size_t i = 0; i < LoginThrottle::kMaxTracked - 6; ++i) {
    clock_.advance(1ms);
    throttle_.record_failure("x" + std::to_string(i), "s9");
  }
  clock_.advance(1ms);
  throttle_.record_failure("one-more", "s9");
  EXPECT_TRUE(throttle_.locked("anyone", "s9"));
  EXPECT_FALSE(throttle_.record_failure("old", "s-new"));   // its one old failure was dropped…
  EXPECT_FALSE(throttle_.record_failure("old", "s-new2"));  // …so two more do not lock it
}

}  // namespace
}  // namespace sekisho::broker
