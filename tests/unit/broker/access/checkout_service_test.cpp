// CheckoutService over a real encrypted store with a test clock and a fake rotation trigger: who
// is shown a password and when, exclusivity, manual accounts, the ends of a check-out and the
// rotation each one owes, and an audit trail that never holds the secret.
#include "broker/access/checkout_service.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <tuple>

#include "broker/auth/user_cutoff.hpp"
#include "storage/checkouts.hpp"
#include "storage/credentials.hpp"
#include "storage/hosts.hpp"
#include "storage/requests.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kRootPassword = "root-Secret-1";
constexpr std::string_view kAdminPassword = "Admin-Secret-2";

// Records what the service asks of rotation; can refuse either call.
class FakeTrigger final : public RotationTrigger {
 public:
  Result<void> rotate_soon(std::int64_t account_id, const std::string& reason,
                           const std::string& actor) override {
    std::lock_guard lock(mu);
    if (fail_rotate) return fail(ErrorCode::kIo, "rotation service stopped");
    rotations.emplace_back(account_id, reason, actor);
    return ok();
  }
  Result<void> await_settled(std::int64_t account_id, std::chrono::milliseconds limit) override {
    std::lock_guard lock(mu);
    settled.emplace_back(account_id, limit);
    if (!settle_error.empty()) return fail(ErrorCode::kUnavailable, settle_error);
    return ok();
  }
  std::mutex mu;
  bool fail_rotate = false;
  std::string settle_error;
  std::vector<std::tuple<std::int64_t, std::string, std::string>> rotations;
  std::vector<std::pair<std::int64_t, std::chrono::milliseconds>> settled;
};

class CheckoutServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = testing::make_test_store();
    approval::Policy policy = approval::default_policy();
    policy.rules[0].max_duration = 8h;
    requests_ = std::make_unique<RequestService>(*t_->store, *t_->log, policy, nullptr, t_->clock);
    make_service({});
    alice_ = add_user("alice", {"requester"});
    dave_ = add_user("dave", {"requester"});
    bob_ = add_user("bob", {"approver"});
    ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto web = storage::insert_host(tx, testing::test_host("web01"));
      if (!web) return tl::make_unexpected(web.error());
      auto root = storage::add_account(tx, *web, "root", "password",
                                       Secret::copy_of(kRootPassword), std::nullopt,
                                       "2026-01-01T00:00:00.000Z");
      if (!root) return tl::make_unexpected(root.error());
      root_id_ = *root;
      auto deploy = storage::add_account(tx, *web, "deploy", "key",
                                         Secret::copy_of(std::string_view("-----BEGIN KEY-----")),
                                         std::nullopt, "2026-01-01T00:00:00.000Z");
      if (!deploy) return tl::make_unexpected(deploy.error());
      storage::HostRecord win = testing::test_host("win01");
      win.protocol = "rdp";
      win.port = 3389;
      auto w = storage::insert_host(tx, win);
      if (!w) return tl::make_unexpected(w.error());
      auto admin = storage::add_account(tx, *w, "Administrator", "password",
                                        Secret::copy_of(kAdminPassword), std::nullopt,
                                        "2026-01-01T00:00:00.000Z");
      if (!admin) return tl::make_unexpected(admin.error());
      return ok();
    }));
  }

  void make_service(CheckoutRules rules) {
    svc_ = std::make_unique<CheckoutService>(*t_->store, *t_->log, *requests_, trigger_,
                                             std::move(rules), t_->clock);
  }

  Caller add_user(const std::string& name, std::vector<std::string> roles) {
    std::int64_t id = 0;
    EXPECT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto r = storage::create_user(tx, {name, "x", roles, false, "2026-01-01T00:00:00.000Z"});
      if (!r) return tl::make_unexpected(r.error());
      id = *r;
      return ok();
    }));
    Caller c;
    c.user_id = id;
    c.name = name;
    c.roles = std::move(roles);
    return c;
  }

  // A request of `who` for `target`, approved by bob.
  std::string approved(const Caller& who, const std::string& target = "root@web01",
                       approval::Mode mode = approval::Mode::kCheckout,
                       std::chrono::seconds duration = 1h) {
    CreateRequest r;
    r.target = target;
    r.reason = "rotate the certificates";
    r.duration = duration;
    r.mode = mode;
    auto created = requests_->create(who, r);
    EXPECT_TRUE(created) << created.error().message;
    if (!created) return "";
    auto reviewed = requests_->review(bob_, created->row.id, approval::Decision::kApprove, "ok");
    EXPECT_TRUE(reviewed) << reviewed.error().message;
    return created->row.id;
  }

  std::string state_of(const std::string& id) {
    std::string state;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto r = storage::find_request(tx, id);
      if (!r) return tl::make_unexpected(r.error());
      state = (*r)->state;
      return ok();
    }));
    return state;
  }

  std::string rotation_due(const std::string& host, const std::string& account) {
    std::string due;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto r = storage::find_account_row(tx, host, account);
      if (!r) return tl::make_unexpected(r.error());
      due = (*r)->rotation_due;
      return ok();
    }));
    return due;
  }

  std::optional<storage::CheckoutRow> checkout_row(const std::string& id) {
    std::optional<storage::CheckoutRow> row;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto r = storage::find_checkout(tx, id);
      if (!r) return tl::make_unexpected(r.error());
      row = *r;
      return ok();
    }));
    return row;
  }

  struct AuditRow {
    std::string actor, action, target;
    nlohmann::json details;
  };
  std::vector<AuditRow> audit(const std::string& prefix) {
    std::vector<AuditRow> out;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto s = tx.prepare(
          "SELECT actor, action, target, details FROM audit_events WHERE action LIKE '" + prefix +
          "%' ORDER BY seq");
      while (*s->step()) {
        out.push_back({s->column_text(0), s->column_text(1), s->column_text(2),
                       nlohmann::json::parse(s->column_text(3))});
      }
      return ok();
    }));
    return out;
  }

  // Every audit row, as stored, holds neither vaulted password.
  void expect_no_secret_in_audit() {
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto s = tx.prepare("SELECT actor || action || target || details FROM audit_events");
      int rows = 0;
      while (*s->step()) {
        const std::string text = s->column_text(0);
        EXPECT_EQ(text.find(kRootPassword), std::string::npos) << "an audit row holds the secret";
        EXPECT_EQ(text.find(kAdminPassword), std::string::npos) << "an audit row holds the secret";
        ++rows;
      }
      EXPECT_GT(rows, 0);
      return ok();
    }));
  }

  std::unique_ptr<testing::TestStore> t_;
  FakeTrigger trigger_;
  std::unique_ptr<RequestService> requests_;
  std::unique_ptr<CheckoutService> svc_;
  Caller alice_, dave_, bob_;
  std::int64_t root_id_ = 0;
};

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
  EXPECT_EQ(refused.error().message, "root@web01 is checked out by alice until " + lent->until +
                                         " (request " + first + ")");
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

TEST_F(CheckoutServiceTest, CheckinEndsItOwesTheRotationAndClosesTheRequest) {
  const std::string id = approved(alice_);
  ASSERT_TRUE(svc_->checkout(alice_, id));

  auto stranger = svc_->checkin(dave_, id);
  ASSERT_FALSE(stranger);
  EXPECT_EQ(stranger.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(stranger.error().message, "only the requester can check in request " + id);
  const std::string unused = approved(dave_, "Administrator@win01");
  auto none = svc_->checkin(dave_, unused);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(none.error().message, "request " + unused + " has no open check-out");
  auto refusals = audit("credential.checkin_refused");
  ASSERT_EQ(refusals.size(), 2u);
  EXPECT_EQ(refusals[0].actor, "dave");
  EXPECT_EQ(refusals[1].details["reason"], none.error().message);

  auto in = svc_->checkin(alice_, id);
  ASSERT_TRUE(in) << in.error().message;
  EXPECT_EQ(in->rotation, "started");
  EXPECT_EQ(state_of(id), "closed");
  auto row = checkout_row(id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->end_reason, "checkin");
  EXPECT_FALSE(row->ended_at.empty());
  EXPECT_EQ(rotation_due("web01", "root"), "checkin");
  ASSERT_EQ(trigger_.rotations.size(), 1u);
  EXPECT_EQ(trigger_.rotations[0], std::make_tuple(root_id_, std::string("checkin"),
                                                   std::string("alice")));
  auto checkins = audit("credential.checkin");
  ASSERT_GE(checkins.size(), 1u);
  EXPECT_EQ(checkins.back().action, "credential.checkin");
  EXPECT_EQ(checkins.back().details,
            (nlohmann::json{
                {"request", id}, {"holder", "alice"}, {"reason", "checkin"}, {"rotation", "owed"}}));
  auto closed = audit("request.closed");
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].actor, "alice");
  EXPECT_EQ(closed[0].details["request"], id);
  EXPECT_EQ(closed[0].details["reason"], "checkin");

  auto twice = svc_->checkin(alice_, id);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "request " + id + " has no open check-out");
  auto shown_again = svc_->checkout(alice_, id);
  ASSERT_FALSE(shown_again);
  EXPECT_EQ(shown_again.error().message, "request " + id + " grants no check-out now (closed)");
  expect_no_secret_in_audit();
}

TEST_F(CheckoutServiceTest, TheNextCheckoutWaitsForTheRotationTheLastOneOwes) {
  const std::string first = approved(alice_);
  ASSERT_TRUE(svc_->checkout(alice_, first));
  ASSERT_TRUE(svc_->checkin(alice_, first));
  const std::string second = approved(dave_);
  auto refused = svc_->checkout(dave_, second);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(refused.error().message,
            "root@web01 still owes the rotation after \"checkin\"; try again once it has been "
            "rotated");
  // The rotation ran (the rotation service clears the debt when it promotes the new password).
  ASSERT_TRUE(t_->store->transact(
      [&](storage::Store::Tx& tx) { return storage::set_rotation_due(tx, root_id_, ""); }));
  auto lent = svc_->checkout(dave_, second);
  ASSERT_TRUE(lent) << lent.error().message;
}

TEST_F(CheckoutServiceTest, WindowEndEndsTheCheckoutAndOwesTheRotation) {
  const std::string id = approved(alice_, "root@web01", approval::Mode::kCheckout, 30min);
  ASSERT_TRUE(svc_->checkout(alice_, id));
  t_->clock.advance(29min);
  auto early = svc_->sweep();
  ASSERT_TRUE(early) << early.error().message;
  EXPECT_EQ(*early, 0);
  EXPECT_TRUE(trigger_.rotations.empty());

  t_->clock.advance(1min);
  auto swept = svc_->sweep();
  ASSERT_TRUE(swept) << swept.error().message;
  EXPECT_EQ(*swept, 1);
  auto row = checkout_row(id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->end_reason, "window end");
  EXPECT_EQ(rotation_due("web01", "root"), "window end");
  ASSERT_EQ(trigger_.rotations.size(), 1u);
  EXPECT_EQ(trigger_.rotations[0], std::make_tuple(root_id_, std::string("window end"),
                                                   std::string("system")));
  auto ended = audit("credential.checkout_ended");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].actor, "sekishod");
  EXPECT_EQ(ended[0].details["reason"], "window end");
  ASSERT_TRUE(requests_->sweep());
  EXPECT_EQ(state_of(id), "closed");
  auto again = svc_->sweep();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0) << "a check-out ends once";
  EXPECT_EQ(trigger_.rotations.size(), 1u);
  expect_no_secret_in_audit();
}

// The daemon dying between the end of a check-out and the start of its rotation: the debt was
// stored with the end, so the next start rotates.
TEST_F(CheckoutServiceTest, TheOwedRotationSurvivesARotationThatDidNotStart) {
  const std::string id = approved(alice_, "root@web01", approval::Mode::kCheckout, 30min);
  ASSERT_TRUE(svc_->checkout(alice_, id));
  trigger_.fail_rotate = true;
  t_->clock.advance(30min);
  auto swept = svc_->sweep();
  ASSERT_TRUE(swept) << swept.error().message;
  EXPECT_EQ(*swept, 1);
  EXPECT_TRUE(trigger_.rotations.empty());
  t_->reopen();
  std::vector<storage::AccountRow> owed;
  ASSERT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
    auto rows = storage::list_account_rows(tx, {});
    if (!rows) return tl::make_unexpected(rows.error());
    for (auto& r : *rows) {
      if (!r.rotation_due.empty()) owed.push_back(r);
    }
    return ok();
  }));
  ASSERT_EQ(owed.size(), 1u);
  EXPECT_EQ(owed[0].id, root_id_);
  EXPECT_EQ(owed[0].rotation_due, "window end");
  EXPECT_EQ(owed[0].checkout_request, "") << "the check-out ended with the debt stored";
}

TEST_F(CheckoutServiceTest, ADisabledUsersCheckoutsEndAndOweTheirRotation) {
  const std::string id = approved(alice_);
  ASSERT_TRUE(svc_->checkout(alice_, id));
  const std::string session = approved(alice_, "root@web01", approval::Mode::kSession);
  auto ended = svc_->end_checkouts_of(alice_.user_id, "bob", "user disabled");
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(*ended, 1);
  EXPECT_EQ(checkout_row(id)->end_reason, "user disabled");
  EXPECT_EQ(rotation_due("web01", "root"), "user disabled");
  ASSERT_EQ(trigger_.rotations.size(), 1u);
  EXPECT_EQ(trigger_.rotations[0], std::make_tuple(root_id_, std::string("user disabled"),
                                                   std::string("bob")));
  auto audited = audit("credential.checkout_ended");
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0].actor, "bob");
  EXPECT_EQ(state_of(session), "approved") << "requests are the cut-off's next step";
}

// A user cut off (disabled, departed): the check-out ends before the request it is found by.
TEST_F(CheckoutServiceTest, CuttingAUserOffEndsTheirCheckoutThenTheirRequest) {
  const std::string id = approved(alice_);
  ASSERT_TRUE(svc_->checkout(alice_, id));
  CutOffTargets targets{*t_->store, *t_->log, requests_.get(), {}, svc_.get()};
  auto counts = cut_off_user(targets, alice_.user_id, "alice", "bob");
  ASSERT_TRUE(counts) << counts.error().message;
  EXPECT_EQ(counts->checkouts, 1);
  EXPECT_EQ(counts->requests, 1);
  EXPECT_EQ(checkout_row(id)->end_reason, "user disabled");
  EXPECT_EQ(state_of(id), "closed");
  EXPECT_EQ(rotation_due("web01", "root"), "user disabled");
  ASSERT_EQ(trigger_.rotations.size(), 1u);
}

}  // namespace
}  // namespace sekisho::broker
