// The request state machine and the review rules (DESIGN.md "Access model"):
//   pending → approved | denied | cancelled | expired,  approved → active → closed,
//   approved → expired when the window ends unused.
// Everything here is a pure function of (policy, request, reviews, now): the store keeps the
// facts, these functions decide what they mean.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "approval/policy.hpp"
#include "base/clock.hpp"
#include "base/result.hpp"

namespace sekisho::approval {

enum class State { kPending, kApproved, kDenied, kCancelled, kExpired, kActive, kClosed };
std::string to_string(State state);
[[nodiscard]] Result<State> parse_state(const std::string& text);
// denied, cancelled, expired and closed never change again.
bool is_final(State state);

enum class Decision { kApprove, kDeny };
std::string to_string(Decision decision);

struct Review {
  std::string request_id;  // the request this review was given to; it counts for no other
  Person reviewer;
  Decision decision = Decision::kApprove;
  std::string comment;
  TimePoint at{};
};

struct Request {
  std::string id;
  Person requester;
  HostRef host;
  std::string account;
  Mode mode = Mode::kSession;
  std::string reason;
  std::optional<std::string> ticket;
  // The state last written to the store. Time-driven transitions (expiry, closing at the end of
  // the window) are computed by evaluate() and written back by whoever observes them.
  State state = State::kPending;
  bool break_glass = false;
  TimePoint start{}, end{}, created{};
  // Fixed when the request is admitted, so that a later policy change does not approve (or
  // un-approve) requests already made.
  std::string policy;
  int approvals_needed = 1;
};

// Longest reason and ticket id a request may carry.
inline constexpr std::size_t kMaxReasonLength = 1000;
inline constexpr std::size_t kMaxTicketLength = 64;
// Duration when the requester names none (never more than the policy allows).
inline constexpr std::chrono::seconds kDefaultDuration{3600};
// How far ahead a request may be scheduled.
inline constexpr std::chrono::hours kMaxStartAhead{24 * 30};

struct NewRequest {
  Person requester;
  HostRef host;
  std::string account;
  Mode mode = Mode::kSession;
  std::string reason;
  std::optional<std::string> ticket;
  std::optional<std::chrono::seconds> duration;
  std::optional<TimePoint> start;
  bool break_glass = false;
};

// What a new request becomes when the policy admits it.
struct Admission {
  const Rule* rule = nullptr;
  TimePoint start{}, end{};
  State state = State::kPending;  // kApproved for break-glass
};

// Admits or refuses a new request: a policy must cover the host, the requester must be allowed
// (break-glass: be a break-glass member), the mode allowed, a reason given (and a ticket when the
// policy requires one), the window within the policy maximum and not in the past.
[[nodiscard]] Result<Admission> admit(const Policy& policy, const NewRequest& request,
                                      TimePoint now);

struct Status {
  State state = State::kPending;
  int approvals = 0;         // distinct approving reviewers (never the requester)
  int approvals_needed = 1;  // as fixed at admission
  bool denied_by_review = false;
  // Break-glass requests are approved at once and must be reviewed afterwards: until an approver
  // has reviewed one, it shows as "review overdue".
  bool review_overdue = false;
};

// The request's state now. `reviews` may hold reviews of other requests: they are ignored.
Status evaluate(const Request& request, const std::vector<Review>& reviews, TimePoint now);

// May `reviewer` give `decision` on `request` now? Refusals: kPermissionDenied (own request — also
// through another account of the same directory entry —, not an approver under the policy),
// kAlreadyExists (one review per person per request), kInvalidArgument (nothing to review: the
// request is approved, denied, cancelled, expired or closed; a deny needs a comment).
[[nodiscard]] Result<void> check_review(const Rule& rule, const Request& request,
                                        const std::vector<Review>& reviews, const Person& reviewer,
                                        Decision decision, const std::string& comment,
                                        TimePoint now);

// May `person` cancel `request` now? Only its requester, only while pending or approved (unused).
[[nodiscard]] Result<void> check_cancel(const Request& request, const std::vector<Review>& reviews,
                                        const Person& person, TimePoint now);

// Does the request grant its requester access in `mode` now: approved or active, inside its
// window, in that mode.
bool grants(const Request& request, const std::vector<Review>& reviews, Mode mode, TimePoint now);

}  // namespace sekisho::approval
