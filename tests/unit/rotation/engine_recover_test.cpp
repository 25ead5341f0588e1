// recover(): which of pending and current the host accepts, the reconcile reset, and the
// account marked unknown when nothing works.
#include <gtest/gtest.h>

#include "tests/unit/rotation/engine_fixture.hpp"

namespace sekisho::rotation::testing {
namespace {

const std::string kPending = "pending-password";

class RecoverTest : public EngineTest {
 protected:
  void SetUp() override { vault.pending = kPending; }
};

TEST_F(EngineTest, RecoverWithNothingPendingIsANoOp) {
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kUnchanged);
  EXPECT_EQ(report.message, "nothing pending");
  EXPECT_EQ(host.logins + host.changes + host.resets, 0);
  EXPECT_TRUE(kinds.empty());
}

TEST_F(EngineTest, RecoverReportsAVaultThatCannotLoad) {
  vault.failing = {"load"};
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kError);
  EXPECT_EQ(report.message, "vault: the vault's disk is gone");
  EXPECT_EQ(host.logins, 0);
}

TEST_F(RecoverTest, PromotesThePendingPasswordTheHostAccepts) {
  host.password = kPending;
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kRecovered);
  EXPECT_EQ(report.message, "host accepts the new password");
  EXPECT_EQ(kinds, (Kinds{"rotation.recovered"}));
  EXPECT_EQ(host.logins, 1);
  EXPECT_TRUE(current_is(kPending));
  EXPECT_TRUE(vault.previous == std::vector<std::string>{kOld});
}

TEST_F(RecoverTest, DropsThePendingPasswordWhenTheHostKeptTheCurrentOne) {
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kRecovered);
  EXPECT_EQ(report.message, "host kept the current password");
  EXPECT_EQ(kinds, (Kinds{"rotation.recovered"}));
  EXPECT_TRUE(current_is(kOld));
  EXPECT_FALSE(vault.pending);
  EXPECT_TRUE(vault.previous.empty());
}

TEST_F(RecoverTest, AnUnreachableHostLeavesThePendingPasswordInPlace) {
  host.reachable = false;
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kInDoubt);
  EXPECT_EQ(report.message,
            "recovery: the new password could not be tried: unreachable (connection refused); it "
            "stays pending");
  EXPECT_EQ(kinds, (Kinds{"rotation.failed"}));
  EXPECT_EQ(host.logins, 1);
  EXPECT_TRUE(vault.pending == kPending);
  EXPECT_TRUE(current_is(kOld));
}

TEST_F(RecoverTest, AHostKeyMismatchLeavesThePendingPasswordInPlace) {
  host.login_says = {LoginOutcome::kHostKeyMismatch};
  EXPECT_EQ(recover_now().outcome, Outcome::kInDoubt);
  EXPECT_TRUE(vault.pending == kPending);
}

TEST_F(RecoverTest, ACurrentPasswordThatCannotBeTriedLeavesThePendingOneInPlace) {
  host.login_says = {LoginOutcome::kRefused, LoginOutcome::kUnreachable};
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kInDoubt);
  EXPECT_EQ(report.message,
            "recovery: the new password is refused and the current one could not be tried: "
            "unreachable (scripted); the new one stays pending");
  EXPECT_TRUE(vault.pending == kPending);
  EXPECT_EQ(host.resets, 0);
}

TEST_F(RecoverTest, TheReconcileAccountResetsTheHostToThePendingPassword) {
  host.password = "set-by-someone-else";
  host.reconcile = true;
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kRecovered);
  EXPECT_EQ(report.message, "reset by the reconcile account");
  EXPECT_EQ(kinds, (Kinds{"rotation.recovered"}));
  EXPECT_EQ(host.resets, 1);
  EXPECT_TRUE(current_is(kPending));
  EXPECT_TRUE(settled_on_a_working_password());
}

TEST_F(RecoverTest, WithoutAReconcileAccountTheAccountIsMarkedUnknown) {
  host.password = "set-by-someone-else";
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kUnknown);
  const std::string why =
      "the host refuses both the current and the new password; reset by the reconcile account: "
      "authentication refused (no reconcile account)";
  EXPECT_EQ(report.message, why);
  EXPECT_EQ(vault.unknown, why);
  EXPECT_EQ(kinds, (Kinds{"rotation.unknown"}));
  // Nothing is thrown away: a later recovery may still find the host on either.
  EXPECT_TRUE(vault.pending == kPending);
  EXPECT_TRUE(current_is(kOld));
}

TEST_F(RecoverTest, AResetWhosePasswordDoesNotLogInMarksTheAccountUnknown) {
  host.password = "set-by-someone-else";
  host.reset_says = ChangeOutcome::kChanged;  // reported, not applied
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kUnknown);
  EXPECT_EQ(vault.unknown,
            "the host refuses both the current and the new password; reset by the reconcile "
            "account: changed (scripted), but the reset password is refused");
}

TEST_F(RecoverTest, AResetThatCannotBeVerifiedLeavesTheAccountInDoubt) {
  host.password = "set-by-someone-else";
  host.reconcile = true;
  host.login_says = {LoginOutcome::kRefused, LoginOutcome::kRefused, LoginOutcome::kUnreachable};
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kInDoubt);
  EXPECT_TRUE(vault.pending == kPending);
  EXPECT_TRUE(vault.unknown.empty());
  // The reset did set it: the next recovery promotes it.
  EXPECT_EQ(recover_now().outcome, Outcome::kRecovered);
  EXPECT_TRUE(settled_on_a_working_password());
}

TEST_F(RecoverTest, AResetCutOffMidwayMarksUnknownButKeepsThePendingPasswordToTryAgain) {
  host.password = "set-by-someone-else";
  host.reset_says = ChangeOutcome::kUnknown;
  host.reset_applies = true;
  EXPECT_EQ(recover_now().outcome, Outcome::kUnknown);
  EXPECT_TRUE(vault.pending == kPending);
  const Report again = recover_now();
  EXPECT_EQ(again.outcome, Outcome::kRecovered);
  EXPECT_EQ(again.message, "host accepts the new password");
  EXPECT_TRUE(vault.unknown.empty());
  EXPECT_TRUE(settled_on_a_working_password());
}

TEST_F(RecoverTest, WithNoCurrentPasswordARefusedPendingOneGoesToTheReconcileAccount) {
  vault.current.reset();
  host.password = "set-by-someone-else";
  host.reconcile = true;
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kRecovered);
  EXPECT_EQ(host.logins, 2);  // pending, then the reset one; no current to try
  EXPECT_TRUE(settled_on_a_working_password());
}

TEST_F(RecoverTest, AVaultThatCannotMarkUnknownIsAnError) {
  host.password = "set-by-someone-else";
  vault.failing = {"mark_unknown"};
  const Report report = recover_now();
  EXPECT_EQ(report.outcome, Outcome::kError);
  EXPECT_EQ(kinds, (Kinds{"rotation.failed"}));
}

}  // namespace
}  // namespace sekisho::rotation::testing
