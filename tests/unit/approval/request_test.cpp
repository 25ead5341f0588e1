#include "approval/request.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace sekisho::approval {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow = TimePoint(std::chrono::seconds(1'800'000'000));

Person person(std::int64_t id, std::string name, std::vector<std::string> roles,
              std::string entry = "") {
  return Person{id, name, entry.empty() ? "local:" + name : entry, std::move(roles), {}};
}

const Person kAlice = person(1, "alice", {"requester", "approver"});
const Person kBob = person(2, "bob", {"approver"});
const Person kCarol = person(3, "carol", {"approver"});
const Person kDave = person(4, "dave", {"requester"});  // not an approver
// A second gateway account of alice's directory entry.
const Person kAliceAdm = person(5, "alice-adm", {"approver"}, "local:alice");
const Person kOncall = Person{6, "olivia", "local:olivia", {"requester"}, {"cn=oncall"}};

Policy two_approvals() {
  Policy p = default_policy();
  p.rules[0].approvals = 2;
  p.rules[0].max_duration = 8h;
  p.break_glass_members = {*parse_selector("group:cn=oncall")};
  return p;
}

NewRequest new_request(const Person& who) {
  NewRequest r;
  r.requester = who;
  r.host = {"web01", ""};
  r.account = "root";
  r.reason = "patch openssl";
  r.duration = 1h;
  return r;
}

Request admitted(const Policy& policy, const NewRequest& n, std::string id = "r-1") {
  auto a = admit(policy, n, kNow);
  EXPECT_TRUE(a) << a.error().message;
  Request r;
  r.id = std::move(id);
  r.requester = n.requester;
  r.host = n.host;
  r.account = n.account;
  r.mode = n.mode;
  r.reason = n.reason;
  r.ticket = n.ticket;
  r.state = a->state;
  r.break_glass = n.break_glass;
  r.start = a->start;
  r.end = a->end;
  r.created = kNow;
  r.policy = a->rule->name;
  r.approvals_needed = a->rule->approvals;
  return r;
}

Review review(const Request& r, const Person& who, Decision d, TimePoint at = kNow,
              std::string comment = "ok") {
  return Review{r.id, who, d, std::move(comment), at};
}

TEST(Admit, RefusesWhatPolicyForbids) {
  Policy p = two_approvals();
  p.rules[0].hosts = {"web*"};
  p.rules[0].require_ticket = true;
  p.rules[0].modes = {Mode::kSession};
  NewRequest n = new_request(kDave);
  n.ticket = "CHG-1";

  auto expect_refused = [&](NewRequest req, ErrorCode code, const std::string& needle) {
    auto a = admit(p, req, kNow);
    ASSERT_FALSE(a) << needle;
    EXPECT_EQ(a.error().code, code) << a.error().message;
    EXPECT_NE(a.error().message.find(needle), std::string::npos) << a.error().message;
  };
  ASSERT_TRUE(admit(p, n, kNow));
  NewRequest x = n;
  x.host = {"db01", ""};
  expect_refused(x, ErrorCode::kPermissionDenied, "no policy covers host db01");
  x = n;
  x.requester = kBob;
  expect_refused(x, ErrorCode::kPermissionDenied, "bob may not request");
  x = n;
  x.mode = Mode::kCheckout;
  expect_refused(x, ErrorCode::kPermissionDenied, "does not allow mode checkout");
  x = n;
  x.reason = "  ";
  expect_refused(x, ErrorCode::kInvalidArgument, "reason: required");
  x = n;
  x.reason = std::string(kMaxReasonLength + 1, 'r');
  expect_refused(x, ErrorCode::kInvalidArgument, "reason: longer");
  x = n;
  x.ticket.reset();
  expect_refused(x, ErrorCode::kInvalidArgument, "requires a ticket");
  x = n;
  x.duration = 8h + 1s;
  expect_refused(x, ErrorCode::kInvalidArgument, "exceeds the maximum of policy default (8h)");
  x = n;
  x.duration = 0s;
  expect_refused(x, ErrorCode::kInvalidArgument, "duration: must be positive");
  x = n;
  x.start = kNow - 2min;
  expect_refused(x, ErrorCode::kInvalidArgument, "start: in the past");
  x = n;
  x.start = kNow + kMaxStartAhead + 1s;
  expect_refused(x, ErrorCode::kInvalidArgument, "more than 30 days");
  x = n;
  x.break_glass = true;
  expect_refused(x, ErrorCode::kPermissionDenied, "dave is not a break-glass member");
}

TEST(Admit, WindowIsStartPlusDurationAndNeverAboveTheMaximum) {
  Policy p = two_approvals();
  p.rules[0].max_duration = 30min;
  NewRequest n = new_request(kDave);
  n.duration.reset();
  auto a = admit(p, n, kNow);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->end - a->start, 30min) << "the default duration is cut to the policy maximum";
  n.duration = 10min;
  n.start = kNow + 1h;
  a = admit(p, n, kNow);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->start, kNow + 1h);
  EXPECT_EQ(a->end, kNow + 1h + 10min);
  EXPECT_EQ(a->state, State::kPending);
}

TEST(Review, RequesterCannotApproveOwnRequestNorThroughASecondAccount) {
  const Policy p = two_approvals();
  const Request r = admitted(p, new_request(kAlice));
  for (const Person& who : {kAlice, kAliceAdm}) {
    auto c = check_review(p.rules[0], r, {}, who, Decision::kApprove, "", kNow);
    ASSERT_FALSE(c) << who.name;
    EXPECT_EQ(c.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(c.error().message, "you cannot review your own request");
  }
  // Even if such a review were in the store, it would not count.
  const Status s = evaluate(r, {review(r, kAliceAdm, Decision::kApprove)}, kNow);
  EXPECT_EQ(s.approvals, 0);
  EXPECT_EQ(s.state, State::kPending);
}

TEST(Review, OneReviewPerApproverAndOnlyApprovers) {
  const Policy p = two_approvals();
  const Request r = admitted(p, new_request(kDave));
  std::vector<Review> reviews{review(r, kBob, Decision::kApprove)};
  auto again = check_review(p.rules[0], r, reviews, kBob, Decision::kApprove, "", kNow);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  auto outsider = check_review(p.rules[0], r, reviews, kDave, Decision::kApprove, "", kNow);
  ASSERT_FALSE(outsider);
  EXPECT_EQ(outsider.error().code, ErrorCode::kPermissionDenied);
  const Person dave_admin = person(9, "dave", {"requester"});
  EXPECT_FALSE(check_review(p.rules[0], r, reviews, dave_admin, Decision::kApprove, "", kNow));
  // A duplicate row would not count twice.
  reviews.push_back(review(r, kBob, Decision::kApprove));
  EXPECT_EQ(evaluate(r, reviews, kNow).approvals, 1);
  EXPECT_EQ(evaluate(r, reviews, kNow).state, State::kPending);
  EXPECT_TRUE(check_review(p.rules[0], r, reviews, kCarol, Decision::kApprove, "", kNow));
  reviews.push_back(review(r, kCarol, Decision::kApprove));
  EXPECT_EQ(evaluate(r, reviews, kNow).state, State::kApproved);
}

TEST(Review, ASingleDenyEndsTheRequestAndNeedsAComment) {
  const Policy p = two_approvals();
  const Request r = admitted(p, new_request(kDave));
  auto no_comment = check_review(p.rules[0], r, {}, kBob, Decision::kDeny, " ", kNow);
  ASSERT_FALSE(no_comment);
  EXPECT_EQ(no_comment.error().message, "a deny needs a comment");
  std::vector<Review> reviews{review(r, kCarol, Decision::kApprove),
                              review(r, kBob, Decision::kDeny)};
  EXPECT_EQ(evaluate(r, reviews, kNow).state, State::kDenied);
  auto later = check_review(p.rules[0], r, reviews, kAliceAdm, Decision::kApprove, "", kNow);
  ASSERT_FALSE(later);
  EXPECT_EQ(later.error().message, "request r-1 is denied; nothing to review");
}

TEST(Review, ApprovalCountsOnlyForItsOwnRequest) {
  const Policy p = two_approvals();
  const Request r1 = admitted(p, new_request(kDave), "r-1");
  const Request r2 = admitted(p, new_request(kDave), "r-2");
  std::vector<Review> reviews{review(r1, kBob, Decision::kApprove),
                              review(r1, kCarol, Decision::kApprove)};
  EXPECT_EQ(evaluate(r1, reviews, kNow).state, State::kApproved);
  EXPECT_EQ(evaluate(r2, reviews, kNow).state, State::kPending);
  EXPECT_EQ(evaluate(r2, reviews, kNow).approvals, 0);
  EXPECT_TRUE(check_review(p.rules[0], r2, reviews, kBob, Decision::kApprove, "", kNow));
}

TEST(Review, NothingIsApprovedAfterExpiryOrCancel) {
  const Policy p = two_approvals();
  Request r = admitted(p, new_request(kDave));
  std::vector<Review> reviews{review(r, kBob, Decision::kApprove)};
  const TimePoint after = r.end;
  EXPECT_EQ(evaluate(r, reviews, after).state, State::kExpired);
  auto late = check_review(p.rules[0], r, reviews, kCarol, Decision::kApprove, "", after);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().message, "request r-1 is expired; nothing to review");
  // Even with the second approval in hand, an expired request stays expired.
  reviews.push_back(review(r, kCarol, Decision::kApprove, after));
  EXPECT_EQ(evaluate(r, reviews, after).state, State::kExpired);

  r.state = State::kCancelled;
  EXPECT_EQ(evaluate(r, reviews, kNow).state, State::kCancelled);
  EXPECT_FALSE(check_review(p.rules[0], r, {}, kCarol, Decision::kApprove, "", kNow));
}

TEST(Cancel, OnlyTheRequesterWhileUnused) {
  const Policy p = two_approvals();
  Request r = admitted(p, new_request(kDave));
  EXPECT_FALSE(check_cancel(r, {}, kBob, kNow));
  EXPECT_TRUE(check_cancel(r, {}, kDave, kNow));
  r.state = State::kActive;
  auto active = check_cancel(r, {}, kDave, kNow);
  ASSERT_FALSE(active);
  EXPECT_EQ(active.error().message, "request r-1 is active; it cannot be cancelled");
  r.state = State::kPending;
  EXPECT_FALSE(check_cancel(r, {}, kDave, r.end)) << "expired";
}

TEST(Grant, OnlyApprovedOrActiveInsideTheWindowInTheMode) {
  const Policy p = two_approvals();
  NewRequest n = new_request(kDave);
  n.start = kNow + 10min;
  Request r = admitted(p, n);
  const std::vector<Review> two{review(r, kBob, Decision::kApprove),
                                review(r, kCarol, Decision::kApprove)};
  EXPECT_FALSE(grants(r, {review(r, kBob, Decision::kApprove)}, Mode::kSession, kNow + 15min));
  EXPECT_FALSE(grants(r, two, Mode::kSession, kNow)) << "before the window starts";
  EXPECT_TRUE(grants(r, two, Mode::kSession, kNow + 10min));
  EXPECT_FALSE(grants(r, two, Mode::kCheckout, kNow + 10min)) << "other mode";
  EXPECT_TRUE(grants(r, two, Mode::kSession, r.end - 1s));
  EXPECT_FALSE(grants(r, two, Mode::kSession, r.end));
  r.state = State::kActive;
  EXPECT_TRUE(grants(r, two, Mode::kSession, kNow + 20min));
  EXPECT_EQ(evaluate(r, two, r.end).state, State::kClosed);
}

TEST(BreakGlass, ApprovedAtOnceOverdueUntilReviewedAndADenyEndsIt) {
  const Policy p = two_approvals();
  NewRequest n = new_request(kOncall);
  n.break_glass = true;
  n.start = kNow + 1min;
  EXPECT_FALSE(admit(p, n, kNow)) << "break-glass starts now";
  n.start.reset();
  Request r = admitted(p, n);
  EXPECT_EQ(r.state, State::kApproved);
  Status s = evaluate(r, {}, kNow);
  EXPECT_EQ(s.state, State::kApproved);
  EXPECT_TRUE(s.review_overdue);
  EXPECT_TRUE(grants(r, {}, Mode::kSession, kNow));
  // Reviewed afterwards: no longer overdue.
  ASSERT_TRUE(check_review(p.rules[0], r, {}, kBob, Decision::kApprove, "", kNow + 5min));
  const std::vector<Review> reviewed{review(r, kBob, Decision::kApprove, kNow + 5min)};
  s = evaluate(r, reviewed, kNow + 5min);
  EXPECT_FALSE(s.review_overdue);
  EXPECT_EQ(s.state, State::kApproved);
  // A deny afterwards ends the access.
  r.state = State::kActive;
  const std::vector<Review> denied{review(r, kCarol, Decision::kDeny, kNow + 6min, "no")};
  EXPECT_EQ(evaluate(r, denied, kNow + 6min).state, State::kDenied);
  EXPECT_FALSE(grants(r, denied, Mode::kSession, kNow + 6min));
  // The break-glass user cannot review their own use either.
  EXPECT_FALSE(check_review(p.rules[0], r, {}, kOncall, Decision::kApprove, "", kNow));
}

// Property test: random sequences of actions by random people against random policies. The
// simulator only applies what check_review / check_cancel accept, like the API does, and checks
// after every step the rules that must always hold.
TEST(Property, RandomActionSequencesKeepTheRules) {
  const std::vector<Person> people{kAlice, kBob, kCarol, kDave, kAliceAdm, kOncall};
  std::mt19937 rng(20261126);
  int approved_seen = 0, denied_seen = 0, expired_seen = 0, cancelled_seen = 0;
  for (int round = 0; round < 20000; ++round) {
    Policy p = two_approvals();
    p.rules[0].approvals = 1 + static_cast<int>(rng() % 3);
    p.rules[0].requesters = {*parse_selector("role:requester")};
    NewRequest n = new_request(people[rng() % people.size()]);
    n.break_glass = rng() % 5 == 0;
    n.duration = std::chrono::minutes(1 + rng() % 120);
    auto a = admit(p, n, kNow);
    if (!a) continue;
    ASSERT_LE(a->end - a->start, p.rules[0].max_duration);
    Request r = admitted(p, n);
    std::vector<Review> reviews;
    TimePoint now = kNow;
    State last = evaluate(r, reviews, now).state;
    for (int step = 0; step < 8; ++step) {
      const Person& who = people[rng() % people.size()];
      switch (rng() % 4) {
        case 0:
        case 1: {
          const Decision d = rng() % 4 == 0 ? Decision::kDeny : Decision::kApprove;
          if (check_review(p.rules[0], r, reviews, who, d, "because", now)) {
            ASSERT_FALSE(who.same_person(r.requester));
            ASSERT_TRUE(who.roles.end() !=
                        std::find(who.roles.begin(), who.roles.end(), "approver"));
            reviews.push_back(review(r, who, d, now, "because"));
          }
          break;
        }
        case 2:
          if (check_cancel(r, reviews, who, now)) {
            ASSERT_EQ(who.user_id, r.requester.user_id);
            r.state = State::kCancelled;
          }
          break;
        case 3:
          now += std::chrono::minutes(rng() % 40);
          break;
      }
      const Status s = evaluate(r, reviews, now);
      // Final states never change.
      if (is_final(last)) {
        ASSERT_EQ(s.state, last);
      }
      // Approval needs N distinct non-requester approvers, unless break-glass.
      if (s.state == State::kApproved && !r.break_glass) {
        std::set<std::string> approvers;
        for (const auto& rv : reviews) {
          if (rv.decision == Decision::kApprove) approvers.insert(rv.reviewer.directory_entry);
        }
        ASSERT_FALSE(approvers.contains(r.requester.directory_entry));
        ASSERT_GE(static_cast<int>(approvers.size()), r.approvals_needed);
      }
      // A deny review always wins over approvals.
      const bool any_deny = std::any_of(reviews.begin(), reviews.end(), [](const Review& rv) {
        return rv.decision == Decision::kDeny;
      });
      if (any_deny && !is_final(last)) {
        ASSERT_EQ(s.state, State::kDenied);
      }
      // Access only inside the window and only when approved.
      if (grants(r, reviews, r.mode, now)) {
        ASSERT_TRUE(s.state == State::kApproved || s.state == State::kActive);
        ASSERT_LT(now, r.end);
        ASSERT_GE(now, r.start);
      }
      if (now >= r.end) {
        ASSERT_FALSE(grants(r, reviews, r.mode, now));
      }
      if (r.break_glass) {
        ASSERT_EQ(s.review_overdue, reviews.empty());
      }
      approved_seen += s.state == State::kApproved;
      denied_seen += s.state == State::kDenied;
      expired_seen += s.state == State::kExpired;
      cancelled_seen += s.state == State::kCancelled;
      last = s.state;
    }
  }
  // The generator reached every outcome, so the properties above were really exercised.
  EXPECT_GT(approved_seen, 1000);
  EXPECT_GT(denied_seen, 1000);
  EXPECT_GT(expired_seen, 1000);
  EXPECT_GT(cancelled_seen, 100);
}

// Exhaustive: for N = 1..3, every ordered sequence of up to three reviews from four people
// (two approvers, the requester's second account, a non-approver) with every decision.
TEST(Exhaustive, EveryReviewOrderForSmallN) {
  const std::vector<Person> reviewers{kBob, kCarol, kAliceAdm, kDave};
  for (int n = 1; n <= 3; ++n) {
    Policy p = two_approvals();
    p.rules[0].approvals = n;
    const Request r = admitted(p, new_request(kAlice));
    // Each step: reviewer index 0..3 and decision 0..1 → 8 choices; sequences of length 0..3.
    for (int len = 0; len <= 3; ++len) {
      int total = 1;
      for (int i = 0; i < len; ++i) total *= 8;
      for (int code = 0; code < total; ++code) {
        std::vector<Review> accepted;
        int c = code;
        for (int i = 0; i < len; ++i) {
          const Person& who = reviewers[static_cast<std::size_t>((c % 8) / 2)];
          const Decision d = c % 2 ? Decision::kDeny : Decision::kApprove;
          c /= 8;
          if (check_review(p.rules[0], r, accepted, who, d, "c", kNow)) {
            accepted.push_back(review(r, who, d));
          }
        }
        int approvals = 0;
        bool deny = false;
        for (const auto& rv : accepted) {
          ASSERT_TRUE(rv.reviewer.user_id == kBob.user_id || rv.reviewer.user_id == kCarol.user_id);
          if (rv.decision == Decision::kApprove) ++approvals;
          if (rv.decision == Decision::kDeny) deny = true;
        }
        const State expected =
            deny ? State::kDenied : (approvals >= n ? State::kApproved : State::kPending);
        ASSERT_EQ(evaluate(r, accepted, kNow).state, expected) << "n=" << n << " code=" << code;
      }
    }
  }
}

}  // namespace
}  // namespace sekisho::approval
