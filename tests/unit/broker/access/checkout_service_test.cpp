// CheckoutService, lending: who is shown a password and when, exclusivity, manual and key
// accounts, an account in doubt, and an audit trail that never holds the secret.
#include "tests/unit/broker/access/checkout_fixture.hpp"

namespace sekisho::broker::checkout_test {
namespace {

TEST_F(CheckoutServiceTest, LendsToTheRequesterInsideTheWindowAuditedWithoutTheSecret) {
  const std::string id = approved(alice_);
  auto lent = svc_->checkout(alice_, id);
  ASSERT_TRUE(lent) << lent.error().message;
  EXPECT_EQ(lent->password.view(), kRootPassword);
  EXPECT_EQ(lent->account, "root");
  EXPECT_EQ(lent->host, "web01");
  EXPECT_EQ(lent->until, format_time(t_->clock.now() + 1h));
  EXPECT_FALSE(lent->unrotated);
  EXPECT_EQ(state_of(id), "active");
  ASSERT_EQ(trigger_.settled.size(), 1u) << "an account in doubt is never lent";
  EXPECT_EQ(trigger_.settled[0].first, root_id_);

  // Shown again under the same request: allowed, audited again.
  t_->clock.advance(5min);
  auto again = svc_->checkout(alice_, id);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->password.view(), kRootPassword);

  auto shown = audit("credential.checkout");
  ASSERT_EQ(shown.size(), 2u);
  EXPECT_EQ(shown[0].action, "credential.checkout");
  EXPECT_EQ(shown[0].actor, "alice");
  EXPECT_EQ(shown[0].target, "root@web01");
  EXPECT_EQ(shown[0].details, (nlohmann::json{{"request", id}, {"until", lent->until}}));
  expect_no_secret_in_audit();
}

TEST_F(CheckoutServiceTest, RefusesEveryoneButTheRequester) {
  const std::string id = approved(alice_);
  auto other = svc_->checkout(dave_, id);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(other.error().message, "only the requester can check out request " + id);
  auto approver = svc_->checkout(bob_, id);
  ASSERT_FALSE(approver);
  EXPECT_EQ(approver.error().message, "only the requester can check out request " + id);
  EXPECT_FALSE(checkout_row(id).has_value());
  EXPECT_EQ(state_of(id), "approved");
  auto refused = audit("credential.checkout_refused");
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_EQ(refused[0].actor, "dave");
  EXPECT_EQ(refused[0].target, "root@web01");
  EXPECT_EQ(refused[0].details["reason"], "only the requester can check out request " + id);
  auto missing = svc_->checkout(alice_, "R-nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  expect_no_secret_in_audit();
}

TEST_F(CheckoutServiceTest, RefusesOutsideTheWindowAndBeforeApproval) {
  CreateRequest r;
  r.target = "root@web01";
  r.reason = "patch";
  r.duration = 30min;
  r.mode = approval::Mode::kCheckout;
  auto pending = requests_->create(alice_, r);
  ASSERT_TRUE(pending);
  auto early = svc_->checkout(alice_, pending->row.id);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(early.error().message,
            "request " + pending->row.id + " grants no check-out now (pending)");

  r.start = t_->clock.now() + 2h;
  auto later = requests_->create(alice_, r);
  ASSERT_TRUE(later);
  ASSERT_TRUE(requests_->review(bob_, later->row.id, approval::Decision::kApprove, "ok"));
  auto not_yet = svc_->checkout(alice_, later->row.id);
  ASSERT_FALSE(not_yet);
  EXPECT_EQ(not_yet.error().message, "request " + later->row.id +
                                         " grants no check-out now (approved; its window is " +
                                         later->row.start_at + " to " + later->row.end_at + ")");

  const std::string id = approved(alice_, "root@web01", approval::Mode::kCheckout, 30min);
  ASSERT_TRUE(svc_->checkout(alice_, id));
  t_->clock.advance(31min);
  auto after = svc_->checkout(alice_, id);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().message, "request " + id + " grants no check-out now (closed)");
}

TEST_F(CheckoutServiceTest, RefusesASessionModeRequestAndAKeyCredential) {
  const std::string session = approved(alice_, "root@web01", approval::Mode::kSession);
  auto s = svc_->checkout(alice_, session);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message, "request " + session +
                                   " is for session mode; a check-out needs a request in "
                                   "checkout mode");
  const std::string key = approved(alice_, "deploy@web01");
  auto k = svc_->checkout(alice_, key);
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().message,
            "deploy@web01 is vaulted as an SSH key; a check-out lends passwords only (use a "
            "session)");
  EXPECT_FALSE(checkout_row(key).has_value());
  EXPECT_EQ(audit("credential.checkout_refused").size(), 2u);
}

TEST_F(CheckoutServiceTest, ExclusivePerAccountWhileSessionsKeepTheirGrant) {
  const std::string first = approved(alice_);
  auto lent = svc_->checkout(alice_, first);
  ASSERT_TRUE(lent);
  const std::string second = approved(dave_);
  auto refused = svc_->checkout(dave_, second);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(refused.error().message,
            "root@web01 is checked out by alice until " + lent->until + " (request " + first + ")");
  auto audited = audit("credential.checkout_refused");
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0].actor, "dave");
  EXPECT_EQ(audited[0].details["request"], second);
  EXPECT_EQ(audited[0].details["reason"], refused.error().message);
  EXPECT_EQ(state_of(second), "approved");

  // A session-mode request of the same account still grants its session.
  const std::string session = approved(dave_, "root@web01", approval::Mode::kSession);
  auto grant = requests_->grant(dave_.user_id, "root", "web01", approval::Mode::kSession);
  ASSERT_TRUE(grant && grant->has_value());
  EXPECT_EQ((*grant)->request_id, session);
}

TEST_F(CheckoutServiceTest, ManualAccountRefusedUnlessTheRuleAllowsUnrotatedCheckout) {
  const std::string id = approved(alice_, "Administrator@win01");
  auto refused = svc_->checkout(alice_, id);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(refused.error().message,
            "Administrator@win01 has no rotation connector (rdp host): its password would "
            "outlive the window; a check-out needs allow_unrotated_checkout in the host's "
            "rotation policy");
  EXPECT_EQ(audit("credential.checkout_refused").size(), 1u);

  std::vector<std::pair<std::string, std::string>> asked;
  make_service({[&](const std::string& host, const std::string& group) {
                  asked.emplace_back(host, group);
                  return host == "win01";
                },
                30s});
  auto lent = svc_->checkout(alice_, id);
  ASSERT_TRUE(lent) << lent.error().message;
  EXPECT_EQ(lent->password.view(), kAdminPassword);
  EXPECT_TRUE(lent->unrotated);
  EXPECT_EQ(asked, (std::vector<std::pair<std::string, std::string>>{{"win01", ""}}));
  auto shown = audit("credential.checkout");
  ASSERT_EQ(shown.size(), 2u);  // the refusal, then the showing
  EXPECT_EQ(shown[1].action, "credential.checkout");
  EXPECT_EQ(shown[1].details["unrotated"], true);

  // Its check-in owes no rotation (nothing could do it) and says so.
  auto in = svc_->checkin(alice_, id);
  ASSERT_TRUE(in) << in.error().message;
  EXPECT_EQ(in->rotation, "manual");
  EXPECT_TRUE(trigger_.rotations.empty());
  EXPECT_EQ(rotation_due("win01", "Administrator"), "");
  expect_no_secret_in_audit();
}

TEST_F(CheckoutServiceTest, AnAccountInDoubtPastTheLimitIsNotLent) {
  make_service({{}, 1500ms});
  trigger_.settle_error = "root@web01 is being recovered after an interrupted rotation; try again";
  const std::string id = approved(alice_);
  auto refused = svc_->checkout(alice_, id);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(refused.error().message, trigger_.settle_error);
  ASSERT_EQ(trigger_.settled.size(), 1u);
  EXPECT_EQ(trigger_.settled[0].second, 1500ms);
  EXPECT_FALSE(checkout_row(id).has_value());
  EXPECT_EQ(state_of(id), "approved");
}

// The [[rotation.policy]] rule covering the host decides; no rule covering it: the built-in
// default, which allows no unrotated check-out.
TEST_F(CheckoutServiceTest, TheRotationRuleOfTheHostDecidesAnUnrotatedCheckout) {
  rotation::RotationSettings settings;
  rotation::RotationRule windows;
  windows.name = "windows";
  windows.hosts = {"win*"};
  windows.allow_unrotated_checkout = true;
  settings.rules.push_back(windows);
  const CheckoutRules rules = checkout_rules(settings);
  EXPECT_TRUE(rules.allow_unrotated("win01", ""));
  EXPECT_FALSE(rules.allow_unrotated("web01", ""));
  EXPECT_FALSE(checkout_rules(rotation::RotationSettings{}).allow_unrotated("win01", ""));

  make_service(checkout_rules(settings));
  const std::string id = approved(alice_, "Administrator@win01");
  auto lent = svc_->checkout(alice_, id);
  ASSERT_TRUE(lent) << lent.error().message;
  EXPECT_TRUE(lent->unrotated);
}

TEST_F(CheckoutServiceTest, ARetiredHostLendsNothingEvenUnderAnApprovedRequest) {
  const std::string id = approved(alice_);
  ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) {
    return storage::retire_host(tx, "web01", "2026-01-02T00:00:00.000Z");
  }));
  auto refused = svc_->checkout(alice_, id);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(refused.error().message, "host web01 is retired");
  EXPECT_FALSE(checkout_row(id).has_value());
  EXPECT_EQ(audit("credential.checkout_refused").size(), 1u);
}

}  // namespace
}  // namespace sekisho::broker::checkout_test
