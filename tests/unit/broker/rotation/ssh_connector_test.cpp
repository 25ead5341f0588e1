// How one worker conversation becomes the connector's outcome (the real conversations run
// against real sshd hosts in tests/integration/ssh_rotation_test.cpp), and the refusals the
// connector makes before it starts any worker.
#include "broker/rotation/ssh_connector.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sekisho::broker {
namespace {

using rotation::ChangeOutcome;
using rotation::LoginOutcome;
using ssh::RotationVerdict;
using ssh_connector_detail::change_result;
using ssh_connector_detail::Conversation;
using ssh_connector_detail::login_result;

Conversation with_verdict(RotationVerdict v, std::string message = "") {
  Conversation c;
  c.secrets_sent = true;
  c.result = ssh::RotationResult{v, std::move(message)};
  return c;
}

TEST(SshConnectorOutcome, VerdictsOfAChange) {
  EXPECT_EQ(change_result(with_verdict(RotationVerdict::kChanged)).outcome,
            ChangeOutcome::kChanged);
  const auto rejected = change_result(with_verdict(RotationVerdict::kRejected, "chpasswd: no"));
  EXPECT_EQ(rejected.outcome, ChangeOutcome::kPasswordRejected);
  EXPECT_EQ(rejected.message, "chpasswd: no");
  EXPECT_EQ(change_result(with_verdict(RotationVerdict::kRefused)).outcome,
            ChangeOutcome::kRefusedOld);
  EXPECT_EQ(change_result(with_verdict(RotationVerdict::kUnreachable)).outcome,
            ChangeOutcome::kUnreachable);
  EXPECT_EQ(change_result(with_verdict(RotationVerdict::kUnknown)).outcome,
            ChangeOutcome::kUnknown);
}

TEST(SshConnectorOutcome, NoVerdictAfterTheSecretsLeavesAChangeInDoubt) {
  Conversation died;
  died.secrets_sent = true;
  died.message = "the rotation worker ended without an answer";
  const auto r = change_result(died);
  EXPECT_EQ(r.outcome, ChangeOutcome::kUnknown);
  EXPECT_EQ(r.message, died.message);
  // The same before the secrets went out: the host cannot have the new password.
  died.secrets_sent = false;
  EXPECT_EQ(change_result(died).outcome, ChangeOutcome::kUnreachable);
}

TEST(SshConnectorOutcome, MismatchIsItsOwnOutcome) {
  Conversation c;
  c.host_key_mismatch = true;
  c.message = "the host key is not the one pinned at registration";
  EXPECT_EQ(change_result(c).outcome, ChangeOutcome::kHostKeyMismatch);
  EXPECT_EQ(login_result(c).outcome, LoginOutcome::kHostKeyMismatch);
}

TEST(SshConnectorOutcome, VerdictsOfALogin) {
  EXPECT_EQ(login_result(with_verdict(RotationVerdict::kAccepted)).outcome,
            LoginOutcome::kAccepted);
  EXPECT_EQ(login_result(with_verdict(RotationVerdict::kRefused)).outcome, LoginOutcome::kRefused);
  EXPECT_EQ(login_result(with_verdict(RotationVerdict::kUnreachable)).outcome,
            LoginOutcome::kUnreachable);
  // A worker that died or answered garbage verified nothing.
  Conversation died;
  died.secrets_sent = true;
  EXPECT_EQ(login_result(died).outcome, LoginOutcome::kUnreachable);
}

// A connector whose lookup counts its calls: refusals before any worker never look the host up.
class CountingLookup {
 public:
  SshRotationLookup fn() {
    return [this](const rotation::Target&) -> Result<SshRotationHost> {
      ++calls_;
      return fail(ErrorCode::kNotFound, "no such host");
    };
  }
  int calls() const { return calls_; }

 private:
  int calls_ = 0;
};

TEST(SshConnector, RefusesAKeyAccountAndAnUnsendablePasswordBeforeAnyWorker) {
  CountingLookup lookup;
  SshConnector c({{"nobody", "/nonexistent", "/nonexistent/sekisho-worker"}}, lookup.fn());
  const Secret current = Secret::copy_of("old");
  auto r = c.change({"web01", "deploy", "key"}, current, Secret::copy_of("new"));
  EXPECT_EQ(r.outcome, ChangeOutcome::kPasswordRejected);
  EXPECT_NE(r.message.find("nothing was sent"), std::string::npos) << r.message;
  r = c.change({"web01", "root", "password"}, current, Secret::copy_of("two\nlines"));
  EXPECT_EQ(r.outcome, ChangeOutcome::kPasswordRejected);
  EXPECT_EQ(r.message.find("two"), std::string::npos) << "the password in the message";
  r = c.reset({"web01", "root", "password"}, Secret::copy_of(""));
  EXPECT_EQ(r.outcome, ChangeOutcome::kPasswordRejected);
  EXPECT_EQ(lookup.calls(), 0);
}

TEST(SshConnector, AFailedLookupIsUnreachable) {
  CountingLookup lookup;
  SshConnector c({{"nobody", "/nonexistent", "/nonexistent/sekisho-worker"}}, lookup.fn());
  const auto r =
      c.change({"web01", "root", "password"}, Secret::copy_of("old"), Secret::copy_of("new"));
  EXPECT_EQ(r.outcome, ChangeOutcome::kUnreachable);
  EXPECT_EQ(r.message, "no such host");
  EXPECT_EQ(c.try_login({"web01", "root", "password"}, Secret::copy_of("old")).outcome,
            LoginOutcome::kUnreachable);
  EXPECT_EQ(lookup.calls(), 2);
}

}  // namespace
}  // namespace sekisho::broker
