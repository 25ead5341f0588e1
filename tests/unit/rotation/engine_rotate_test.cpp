// rotate(): every branch of the state machine after generate → store pending → change → verify.
#include <gtest/gtest.h>

#include "tests/unit/rotation/engine_fixture.hpp"

namespace sekisho::rotation::testing {
namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(EngineTest, RotatesVerifiesAndKeepsThePreviousPassword) {
  const Report report = rotate_now();
  EXPECT_EQ(to_string(report.outcome), std::string("rotated"));
  EXPECT_EQ(report.message, "the new password logs in; the old one is refused");
  EXPECT_EQ(kinds, (Kinds{"rotation.start", "rotation.changed", "rotation.verified"}));
  EXPECT_TRUE(current_is(new_password(1)));
  EXPECT_TRUE(settled_on_a_working_password());
  EXPECT_FALSE(host.accepts(kOld));
  ASSERT_EQ(vault.previous.size(), 1u);
  EXPECT_TRUE(vault.previous[0] == kOld);
  // The pending version is durable before the host is touched; verify uses fresh logins.
  EXPECT_EQ(steps.log, (std::vector<std::string>{"load", "store_pending", "change", "login",
                                                 "login", "promote_pending"}));
}

TEST_F(EngineTest, SkipsTheOldPasswordCheckWhenTheOptionIsOff) {
  const Report report = rotate_now(EngineOptions{.check_old_refused = false});
  EXPECT_EQ(report.outcome, Outcome::kRotated);
  EXPECT_EQ(report.message,
            "the new password logs in; the old one was not tried (check_old_refused is off)");
  EXPECT_EQ(host.logins, 1);
  EXPECT_TRUE(current_is(new_password(1)));
}

TEST_F(EngineTest, AnAccountInDoubtIsRecoveredNotRotatedAgain) {
  vault.pending = "interrupted-password";
  host.password = "interrupted-password";  // the earlier change went through
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kRecovered);
  EXPECT_EQ(report.message, "an earlier rotation is in doubt: host accepts the new password");
  EXPECT_EQ(kinds, (Kinds{"rotation.recovered"}));
  EXPECT_EQ(host.changes, 0);
  EXPECT_EQ(generated, 0);
  EXPECT_TRUE(current_is("interrupted-password"));
}

TEST_F(EngineTest, AFailedStoreOfThePendingVersionTouchesNothing) {
  vault.failing = {"store_pending"};
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kError);
  EXPECT_EQ(report.message,
            "the vault could not store the new password: the vault's disk is full; nothing was "
            "sent to the host");
  EXPECT_EQ(kinds, (Kinds{"rotation.start", "rotation.failed"}));
  EXPECT_EQ(host.changes + host.logins, 0);
  EXPECT_TRUE(current_is(kOld));
  EXPECT_FALSE(vault.pending);
}

TEST_F(EngineTest, APasswordUsedOnAnotherHostIsReplacedByAFreshOne) {
  vault.used_elsewhere = {new_password(1)};
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kRotated);
  EXPECT_EQ(generated, 2);
  EXPECT_TRUE(current_is(new_password(2)));
  EXPECT_TRUE(settled_on_a_working_password());
}

TEST_F(EngineTest, GivesUpAfterTheConfiguredNumberOfRefusedPasswords) {
  vault.used_elsewhere = {new_password(1), new_password(2), new_password(3), new_password(4)};
  const Report report = rotate_now(EngineOptions{.generate_attempts = 3});
  EXPECT_EQ(report.outcome, Outcome::kError);
  EXPECT_EQ(report.message,
            "the vault could not store the new password: that password is current on another "
            "host; nothing was sent to the host");
  EXPECT_EQ(generated, 3);
  EXPECT_EQ(host.changes, 0);
  EXPECT_TRUE(current_is(kOld));
}

TEST_F(EngineTest, AGeneratorFailureTouchesNothing) {
  generate_error = "random source failed";
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kError);
  EXPECT_EQ(report.message, "generate: random source failed");
  EXPECT_EQ(host.changes, 0);
  EXPECT_TRUE(vault.stored.empty());
}

TEST_F(EngineTest, AVaultThatCannotLoadIsAnErrorBeforeAnyEvent) {
  vault.failing = {"load"};
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kError);
  EXPECT_EQ(report.message, "vault: the vault's disk is gone");
  EXPECT_TRUE(kinds.empty());
  EXPECT_EQ(host.changes, 0);
}

TEST_F(EngineTest, NothingToRotateFromIsAnError) {
  vault.current.reset();
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kError);
  EXPECT_EQ(report.message, "no vaulted secret to rotate from");
  EXPECT_EQ(host.changes, 0);
}

// The outcomes of change() that mean the host certainly kept the current password.
struct Unchanged {
  ChangeOutcome says;
  std::string message;
};

class EngineUnchangedTest : public EngineTest, public ::testing::WithParamInterface<Unchanged> {};

TEST_P(EngineUnchangedTest, KeepsTheCurrentPasswordAndRecordsTheCause) {
  host.change_says = GetParam().says;
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kUnchanged);
  EXPECT_EQ(report.message, GetParam().message + "; the current password stays");
  EXPECT_EQ(vault.error, GetParam().message);
  EXPECT_EQ(kinds, (Kinds{"rotation.start", "rotation.failed"}));
  EXPECT_TRUE(current_is(kOld));
  EXPECT_TRUE(settled_on_a_working_password());
  EXPECT_EQ(host.logins, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Causes, EngineUnchangedTest,
    ::testing::Values(
        Unchanged{ChangeOutcome::kRefusedOld, "change: authentication refused (scripted)"},
        Unchanged{ChangeOutcome::kHostKeyMismatch, "change: host key mismatch (scripted)"},
        Unchanged{ChangeOutcome::kPasswordRejected,
                  "change: password rejected by the host's policy (scripted)"},
        Unchanged{ChangeOutcome::kUnreachable, "change: unreachable (scripted)"}));

TEST_F(EngineTest, AVaultPasswordTheHostNoLongerTakesIsRefusedAndKept) {
  host.password = "changed-by-hand";
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kUnchanged);
  EXPECT_EQ(vault.error, "change: authentication refused (Permission denied)");
  EXPECT_TRUE(current_is(kOld));
  EXPECT_TRUE(host.password == "changed-by-hand");
}

TEST_F(EngineTest, AVaultThatCannotDropThePendingVersionLeavesItForRecovery) {
  host.change_says = ChangeOutcome::kPasswordRejected;
  vault.failing = {"discard_pending"};
  EXPECT_EQ(rotate_now().outcome, Outcome::kError);
  EXPECT_TRUE(vault.pending);
  vault.failing.clear();
  const Report recovered = recover_now();
  EXPECT_EQ(recovered.outcome, Outcome::kRecovered);
  EXPECT_EQ(recovered.message, "host kept the current password");
  EXPECT_TRUE(current_is(kOld));
  EXPECT_TRUE(settled_on_a_working_password());
}

TEST_F(EngineTest, AChangeCutOffAfterItRanIsSettledOnTheNewPassword) {
  host.change_says = ChangeOutcome::kUnknown;
  host.change_applies = true;
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kRecovered);
  EXPECT_EQ(report.message,
            "change: connection lost during the change (scripted); host accepts the new password");
  EXPECT_EQ(kinds, (Kinds{"rotation.start", "rotation.failed", "rotation.recovered"}));
  EXPECT_TRUE(current_is(new_password(1)));
  EXPECT_TRUE(settled_on_a_working_password());
}

TEST_F(EngineTest, AChangeCutOffBeforeItRanIsSettledOnTheCurrentPassword) {
  host.change_says = ChangeOutcome::kUnknown;
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kRecovered);
  EXPECT_EQ(report.message,
            "change: connection lost during the change (scripted); host kept the current password");
  EXPECT_TRUE(current_is(kOld));
  EXPECT_TRUE(settled_on_a_working_password());
}

TEST_F(EngineTest, AReportedChangeThatDidNotTakeIsCaughtByTheVerifyLogin) {
  host.change_says = ChangeOutcome::kChanged;  // success reported, nothing changed
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kRecovered);
  EXPECT_EQ(report.message,
            "verify: the host refuses the new password after the change; host kept the current "
            "password");
  EXPECT_EQ(kinds,
            (Kinds{"rotation.start", "rotation.changed", "rotation.failed", "rotation.recovered"}));
  EXPECT_TRUE(current_is(kOld));
  EXPECT_TRUE(settled_on_a_working_password());
}

TEST_F(EngineTest, AHostUnreachableForTheVerifyLeavesTheAccountInDoubt) {
  host.login_says = {LoginOutcome::kUnreachable};
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kInDoubt);
  EXPECT_EQ(report.message, "verify: unreachable (scripted); the new password stays pending");
  EXPECT_EQ(kinds, (Kinds{"rotation.start", "rotation.changed", "rotation.failed"}));
  EXPECT_TRUE(vault.pending);
  EXPECT_TRUE(current_is(kOld));
  // The next recovery finds the host on the new password.
  EXPECT_EQ(recover_now().outcome, Outcome::kRecovered);
  EXPECT_TRUE(current_is(new_password(1)));
  EXPECT_TRUE(settled_on_a_working_password());
}

TEST_F(EngineTest, AHostKeyMismatchAtTheVerifyLeavesTheAccountInDoubt) {
  host.login_says = {LoginOutcome::kHostKeyMismatch};
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kInDoubt);
  EXPECT_EQ(report.message, "verify: host key mismatch (scripted); the new password stays pending");
  EXPECT_TRUE(vault.pending);
}

TEST_F(EngineTest, AHostThatStillTakesTheOldPasswordIsAFailedVerification) {
  host.accepts_anything = true;
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kRecovered);
  EXPECT_EQ(report.message,
            "verify: the host still accepts the old password after the change; host accepts the "
            "new password");
  EXPECT_EQ(kinds,
            (Kinds{"rotation.start", "rotation.changed", "rotation.failed", "rotation.recovered"}));
  EXPECT_EQ(vault.error, "verify: the host still accepts the old password after the change");
  EXPECT_TRUE(current_is(new_password(1)));
}

TEST_F(EngineTest, AnOldPasswordCheckThatCannotRunStillPromotes) {
  host.login_says = {LoginOutcome::kAccepted, LoginOutcome::kUnreachable};
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kRotated);
  EXPECT_EQ(report.message,
            "the new password logs in; the old one could not be tried: unreachable (scripted)");
  EXPECT_TRUE(current_is(new_password(1)));
}

TEST_F(EngineTest, AVaultThatCannotPromoteLeavesTheVerifiedPasswordPending) {
  vault.failing = {"promote_pending"};
  const Report report = rotate_now();
  EXPECT_EQ(report.outcome, Outcome::kError);
  EXPECT_TRUE(has(report.message, "the new password logs in but the vault could not promote it"));
  EXPECT_EQ(kinds, (Kinds{"rotation.start", "rotation.changed", "rotation.failed"}));
  EXPECT_TRUE(vault.pending);
  vault.failing.clear();
  EXPECT_EQ(recover_now().outcome, Outcome::kRecovered);
  EXPECT_TRUE(current_is(new_password(1)));
  EXPECT_TRUE(settled_on_a_working_password());
}

}  // namespace
}  // namespace sekisho::rotation::testing
