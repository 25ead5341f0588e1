// RequestService over a real encrypted store with a test clock: the approval rules applied to
// stored requests, the audit trail of every transition, and the notifications they cause.
#include "broker/access/request_service.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "storage/hosts.hpp"
#include "storage/requests.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;

// Collects notifications in memory (the webhook delivery itself is tested with a real receiver).
class RecordingNotifier final : public Notifier {
 public:
  void notify(Notification n) override {
    std::lock_guard lock(mu_);
    events.push_back(n.event);
    last = std::move(n);
  }
  std::mutex mu_;
  std::vector<std::string> events;
  Notification last;
};

class RequestServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = testing::make_test_store();
    approval::Policy policy = approval::default_policy();
    policy.rules[0].approvals = 2;
    policy.rules[0].max_duration = 8h;
    policy.break_glass_members = {*approval::parse_selector("group:cn=oncall,dc=example")};
    policy.break_glass_review_within = 30min;
    svc_ = std::make_unique<RequestService>(*t_->store, *t_->log, policy, &notes_, t_->clock);
    alice_ = add_user("alice", {"requester"});
    bob_ = add_user("bob", {"approver"});
    carol_ = add_user("carol", {"approver"});
    erin_ = add_user("erin", {"auditor"});
    ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto host = storage::insert_host(tx, testing::test_host());
      if (!host) return tl::make_unexpected(host.error());
      auto acct = storage::add_account(tx, *host, "root", "password",
                                       Secret::copy_of(std::string_view("root-Secret-1")),
                                       std::nullopt, "2026-01-01T00:00:00.000Z");
      if (!acct) return tl::make_unexpected(acct.error());
      return ok();
    }));
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

  void set_profile(const Caller& c, const std::string& dn, std::vector<std::string> groups) {
    ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) {
      return storage::set_directory_profile(tx, c.user_id, {dn, std::move(groups)});
    }));
  }

  CreateRequest root_web01(std::chrono::seconds duration = 1h) {
    CreateRequest r;
    r.target = "root@web01";
    r.reason = "patch openssl";
    r.duration = duration;
    return r;
  }

  std::vector<std::string> request_events() {
    std::vector<std::string> out;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto s =
          tx.prepare("SELECT action FROM audit_events WHERE action LIKE 'request.%' ORDER BY seq");
      while (*s->step()) out.push_back(s->column_text(0));
      return ok();
    }));
    return out;
  }

  std::string stored_state(const std::string& id) {
    std::string state;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto r = storage::find_request(tx, id);
      if (!r) return tl::make_unexpected(r.error());
      state = (*r)->state;
      return ok();
    }));
    return state;
  }

  std::unique_ptr<testing::TestStore> t_;
  RecordingNotifier notes_;
  std::unique_ptr<RequestService> svc_;
  Caller alice_, bob_, carol_, erin_;
};

TEST_F(RequestServiceTest, TwoApprovalsThenGrantThenExpiryAllAudited) {
  auto req = svc_->create(alice_, root_web01(10min));
  ASSERT_TRUE(req) << req.error().message;
  const std::string id = req->row.id;
  EXPECT_EQ(req->status.state, approval::State::kPending);
  EXPECT_EQ(notes_.events, std::vector<std::string>{"request.created"});
  EXPECT_EQ(notes_.last.fields["request"], id);
  EXPECT_EQ(notes_.last.fields["approvers"], (nlohmann::json{"bob", "carol"}));

  auto none = svc_->grant(alice_.user_id, "root", "web01", approval::Mode::kSession);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value()) << "pending grants nothing";

  t_->clock.advance(1min);
  auto first = svc_->review(bob_, id, approval::Decision::kApprove, "ok");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->status.state, approval::State::kPending);
  EXPECT_EQ(first->status.approvals, 1);
  auto second = svc_->review(carol_, id, approval::Decision::kApprove, "fine");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->status.state, approval::State::kApproved);
  EXPECT_EQ(stored_state(id), "approved");
  EXPECT_EQ(notes_.events.back(), "request.approved");

  auto grant = svc_->grant(alice_.user_id, "root", "web01", approval::Mode::kSession);
  ASSERT_TRUE(grant && grant->has_value());
  EXPECT_EQ((*grant)->request_id, id);
  EXPECT_EQ(format_time((*grant)->end), req->row.end_at);
  auto other_mode = svc_->grant(alice_.user_id, "root", "web01", approval::Mode::kCheckout);
  EXPECT_FALSE(other_mode->has_value());
  auto other_user = svc_->grant(bob_.user_id, "root", "web01", approval::Mode::kSession);
  EXPECT_FALSE(other_user->has_value()) << "a grant is the requester's only";

  auto other = svc_->create(alice_, root_web01(10min));
  ASSERT_TRUE(other);
  EXPECT_EQ(svc_->activate(other->row.id, "alice").error().code, ErrorCode::kPermissionDenied)
      << "a pending request cannot become active";

  t_->clock.advance(10min);
  grant = svc_->grant(alice_.user_id, "root", "web01", approval::Mode::kSession);
  EXPECT_FALSE(grant->has_value()) << "the window has ended";
  auto shown = svc_->show(alice_, id);
  EXPECT_EQ(shown->status.state, approval::State::kExpired) << "evaluated on read";
  EXPECT_EQ(stored_state(id), "approved") << "not yet swept";
  ASSERT_TRUE(svc_->sweep());
  EXPECT_EQ(stored_state(id), "expired");
  ASSERT_TRUE(svc_->sweep());
  EXPECT_EQ(request_events(),
            (std::vector<std::string>{"request.create", "request.review", "request.review",
                                      "request.approved", "request.create", "request.expired",
                                      "request.expired"}));
}

TEST_F(RequestServiceTest, ASessionActivatesTheRequestWhichClosesAtTheEndOfItsWindow) {
  auto req = svc_->create(alice_, root_web01(10min));
  ASSERT_TRUE(req);
  ASSERT_TRUE(svc_->review(bob_, req->row.id, approval::Decision::kApprove, ""));
  ASSERT_TRUE(svc_->review(carol_, req->row.id, approval::Decision::kApprove, ""));
  ASSERT_TRUE(svc_->activate(req->row.id, "alice"));
  ASSERT_TRUE(svc_->activate(req->row.id, "alice")) << "a second session in the same window";
  EXPECT_EQ(stored_state(req->row.id), "active");
  EXPECT_TRUE(svc_->grant(alice_.user_id, "root", "web01", approval::Mode::kSession)->has_value());
  EXPECT_FALSE(svc_->cancel(alice_, req->row.id)) << "an active request is not cancelled";
  t_->clock.advance(10min);
  EXPECT_FALSE(svc_->activate(req->row.id, "alice"));
  ASSERT_TRUE(svc_->sweep());
  EXPECT_EQ(stored_state(req->row.id), "closed");
  const auto events = request_events();
  EXPECT_EQ(std::vector<std::string>(events.begin() + 3, events.end()),
            (std::vector<std::string>{"request.approved", "request.active", "request.refused",
                                      "request.closed"}));
}

TEST_F(RequestServiceTest, SelfApprovalRefusedAlsoThroughTheSameDirectoryEntry) {
  // alice2 is a second gateway account of alice's directory entry, holding the approver role.
  Caller alice2 = add_user("alice2", {"approver"});
  set_profile(alice_, "uid=alice,ou=people,dc=example", {});
  set_profile(alice2, "UID=alice,ou=people,dc=example", {});
  alice_.roles.push_back("approver");
  auto req = svc_->create(alice_, root_web01());
  ASSERT_TRUE(req);
  for (const Caller* who : {&alice_, &alice2}) {
    auto r = svc_->review(*who, req->row.id, approval::Decision::kApprove, "");
    ASSERT_FALSE(r) << who->name;
    EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(r.error().message, "you cannot review your own request");
  }
  auto again = svc_->review(bob_, req->row.id, approval::Decision::kApprove, "");
  ASSERT_TRUE(again);
  auto twice = svc_->review(bob_, req->row.id, approval::Decision::kApprove, "");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, ErrorCode::kAlreadyExists);
  auto outsider = svc_->review(erin_, req->row.id, approval::Decision::kApprove, "");
  ASSERT_FALSE(outsider);
  EXPECT_EQ(outsider.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(svc_->show(erin_, req->row.id)->status.approvals, 1);
  const auto events = request_events();
  EXPECT_EQ(std::count(events.begin(), events.end(), "request.refused"), 4);
}

TEST_F(RequestServiceTest, DenyEndsItAndCancelIsTheRequestersOnly) {
  auto req = svc_->create(alice_, root_web01());
  ASSERT_TRUE(req);
  auto no_comment = svc_->review(bob_, req->row.id, approval::Decision::kDeny, "");
  ASSERT_FALSE(no_comment);
  auto denied = svc_->review(bob_, req->row.id, approval::Decision::kDeny, "not during freeze");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status.state, approval::State::kDenied);
  EXPECT_EQ(notes_.events.back(), "request.denied");
  auto late = svc_->review(carol_, req->row.id, approval::Decision::kApprove, "");
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().message, "request " + req->row.id + " is denied; nothing to review");

  auto second = svc_->create(alice_, root_web01());
  ASSERT_TRUE(second);
  EXPECT_FALSE(svc_->cancel(bob_, second->row.id));
  auto cancelled = svc_->cancel(alice_, second->row.id);
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(stored_state(second->row.id), "cancelled");
  EXPECT_FALSE(svc_->review(bob_, second->row.id, approval::Decision::kApprove, ""));
}

TEST_F(RequestServiceTest, UnknownTargetsAndPolicyViolationsAreRefusedAtCreation) {
  CreateRequest r = root_web01();
  r.target = "root@nohost";
  auto unknown_host = svc_->create(alice_, r);
  ASSERT_FALSE(unknown_host);
  EXPECT_EQ(unknown_host.error().message, "no account root@nohost is registered");
  r.target = "admin@web01";
  EXPECT_EQ(svc_->create(alice_, r).error().code, ErrorCode::kNotFound);
  r.target = "web01";
  EXPECT_EQ(svc_->create(alice_, r).error().code, ErrorCode::kInvalidArgument);
  r = root_web01(9h);
  EXPECT_NE(svc_->create(alice_, r).error().message.find("exceeds the maximum"), std::string::npos);
  EXPECT_EQ(svc_->create(bob_, root_web01()).error().code, ErrorCode::kPermissionDenied)
      << "bob is no requester";
  const auto events = request_events();
  EXPECT_EQ(events, std::vector<std::string>(5, "request.refused"));
}

TEST_F(RequestServiceTest, RequestersSeeTheirOwnApproversAndAuditorsSeeAll) {
  Caller dave = add_user("dave", {"requester"});
  auto a = svc_->create(alice_, root_web01());
  auto d = svc_->create(dave, root_web01());
  ASSERT_TRUE(a && d);
  EXPECT_EQ(svc_->list(alice_, false, false)->size(), 1u);
  EXPECT_EQ(svc_->show(alice_, d->row.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(svc_->list(bob_, false, false)->size(), 2u);
  EXPECT_EQ(svc_->list(erin_, true, false)->size(), 2u);
  EXPECT_EQ(svc_->list(bob_, false, true)->size(), 0u) << "--mine";
  ASSERT_TRUE(svc_->review(bob_, a->row.id, approval::Decision::kDeny, "no"));
  EXPECT_EQ(svc_->list(bob_, true, false)->size(), 1u) << "--pending drops the denied one";
}

TEST_F(RequestServiceTest, BreakGlassIsApprovedAtOnceAuditedApartAndOverdueUntilReviewed) {
  Caller olivia = add_user("olivia", {"requester"});
  set_profile(olivia, "uid=olivia,dc=example", {"cn=OnCall,dc=example"});
  CreateRequest r = root_web01();
  r.break_glass = true;
  EXPECT_EQ(svc_->create(alice_, r).error().code, ErrorCode::kPermissionDenied);
  auto bg = svc_->create(olivia, r);
  ASSERT_TRUE(bg) << bg.error().message;
  EXPECT_EQ(bg->status.state, approval::State::kApproved);
  EXPECT_TRUE(bg->status.review_overdue);
  EXPECT_EQ(notes_.events.back(), "request.break_glass");
  EXPECT_TRUE(svc_->grant(olivia.user_id, "root", "web01", approval::Mode::kSession)->has_value());
  EXPECT_EQ(svc_->list(bob_, true, false)->size(), 1u) << "shows among what needs review";

  ASSERT_TRUE(svc_->sweep());
  EXPECT_EQ(notes_.events.back(), "request.break_glass") << "not overdue before review_within";
  t_->clock.advance(31min);
  ASSERT_TRUE(svc_->sweep());
  EXPECT_EQ(notes_.events.back(), "request.review_overdue");
  ASSERT_TRUE(svc_->sweep());
  EXPECT_EQ(std::count(notes_.events.begin(), notes_.events.end(), "request.review_overdue"), 1)
      << "reminded once";

  auto reviewed = svc_->review(bob_, bg->row.id, approval::Decision::kApprove, "justified");
  ASSERT_TRUE(reviewed) << reviewed.error().message;
  EXPECT_FALSE(reviewed->status.review_overdue);
  EXPECT_EQ(reviewed->status.state, approval::State::kApproved);
  EXPECT_EQ(svc_->list(bob_, true, false)->size(), 0u);
  EXPECT_EQ(request_events(),
            (std::vector<std::string>{"request.refused", "request.create", "request.break_glass",
                                      "request.review_overdue", "request.review"}));
}

// A retired host (hosts remove with history) takes no new requests, and a request approved before
// the retirement grants no session any more.
TEST_F(RequestServiceTest, RetiredHostRefusesNewRequestsAndGrantsNothing) {
  auto req = svc_->create(alice_, root_web01());
  ASSERT_TRUE(req) << req.error().message;
  ASSERT_TRUE(svc_->review(bob_, req->row.id, approval::Decision::kApprove, "ok"));
  ASSERT_TRUE(svc_->review(carol_, req->row.id, approval::Decision::kApprove, "ok"));
  auto before = svc_->grant(alice_.user_id, "root", "web01", approval::Mode::kSession);
  ASSERT_TRUE(before && before->has_value());
  ASSERT_TRUE(t_->store->transact([](storage::Store::Tx& tx) {
    return storage::retire_host(tx, "web01", "2026-01-01T00:00:00.000Z");
  }));
  auto refused = svc_->create(alice_, root_web01());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(refused.error().message, "host web01 is retired");
  EXPECT_EQ(request_events().back(), "request.refused");
  auto after = svc_->grant(alice_.user_id, "root", "web01", approval::Mode::kSession);
  ASSERT_TRUE(after);
  EXPECT_FALSE(after->has_value());
}

// A check-in ends a request in use before its window does; nothing else can be closed early.
TEST_F(RequestServiceTest, CloseEndsARequestInUseOnceAndOnlyThat) {
  auto req = svc_->create(alice_, root_web01());
  ASSERT_TRUE(req);
  const std::string id = req->row.id;
  auto early = svc_->close(id, "alice", "checkin");
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(early.error().message,
            "request " + id + " is pending; only a request in use can be closed");
  ASSERT_TRUE(svc_->review(bob_, id, approval::Decision::kApprove, "ok"));
  ASSERT_TRUE(svc_->review(carol_, id, approval::Decision::kApprove, "ok"));
  auto check = svc_->check_grant(id, approval::Mode::kSession);
  ASSERT_TRUE(check) << check.error().message;
  EXPECT_TRUE(check->grants);
  EXPECT_FALSE(svc_->check_grant(id, approval::Mode::kCheckout)->grants) << "another mode";
  ASSERT_TRUE(svc_->activate(id, "alice"));

  auto closed = svc_->close(id, "alice", "checkin");
  ASSERT_TRUE(closed) << closed.error().message;
  EXPECT_EQ(stored_state(id), "closed");
  EXPECT_FALSE(svc_->check_grant(id, approval::Mode::kSession)->grants);
  auto again = svc_->close(id, "alice", "checkin");
  ASSERT_TRUE(again) << "closing a closed request is a no-op";
  auto events = request_events();
  EXPECT_EQ(std::count(events.begin(), events.end(), "request.closed"), 1);
  EXPECT_EQ(events.back(), "request.closed");
  auto missing = svc_->check_grant("r-000000000000", approval::Mode::kSession);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace sekisho::broker
