#include "approval/request.hpp"

#include <algorithm>

namespace sekisho::approval {

namespace {

// Reviews of this request only, first review per person only (the store refuses a second one;
// this keeps the count honest even if it were given one).
std::vector<const Review*> reviews_of(const Request& request, const std::vector<Review>& reviews) {
  std::vector<const Review*> out;
  for (const auto& r : reviews) {
    if (r.request_id != request.id) continue;
    if (r.reviewer.same_person(request.requester)) continue;
    const bool seen = std::any_of(out.begin(), out.end(), [&](const Review* prior) {
      return prior->reviewer.same_person(r.reviewer);
    });
    if (!seen) out.push_back(&r);
  }
  return out;
}

}  // namespace

std::string to_string(State state) {
  switch (state) {
    case State::kPending:
      return "pending";
    case State::kApproved:
      return "approved";
    case State::kDenied:
      return "denied";
    case State::kCancelled:
      return "cancelled";
    case State::kExpired:
      return "expired";
    case State::kActive:
      return "active";
    case State::kClosed:
      return "closed";
  }
  return "unknown";
}

Result<State> parse_state(const std::string& text) {
  for (State s : {State::kPending, State::kApproved, State::kDenied, State::kCancelled,
                  State::kExpired, State::kActive, State::kClosed}) {
    if (to_string(s) == text) return s;
  }
  return fail(ErrorCode::kCorrupt, "unknown request state '" + text.substr(0, 32) + "'");
}

bool is_final(State state) {
  return state == State::kDenied || state == State::kCancelled || state == State::kExpired ||
         state == State::kClosed;
}

std::string to_string(Decision decision) {
  return decision == Decision::kApprove ? "approve" : "deny";
}

Result<Admission> admit(const Policy& policy, const NewRequest& request, TimePoint now) {
  const Rule* rule = policy.rule_for(request.host);
  if (rule == nullptr) {
    return fail(ErrorCode::kPermissionDenied, "no policy covers host " + request.host.name);
  }
  if (request.break_glass) {
    if (!policy.is_break_glass_member(request.requester)) {
      return fail(ErrorCode::kPermissionDenied,
                  request.requester.name + " is not a break-glass member");
    }
  } else if (!any_matches(rule->requesters, request.requester)) {
    return fail(ErrorCode::kPermissionDenied,
                request.requester.name + " may not request access to " + request.host.name +
                    " (policy " + rule->name + ")");
  }
  if (!rule->allows(request.mode)) {
    return fail(ErrorCode::kPermissionDenied,
                "policy " + rule->name + " does not allow mode " + to_string(request.mode));
  }
  if (request.reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "reason: required");
  }
  if (request.reason.size() > kMaxReasonLength) {
    return fail(ErrorCode::kInvalidArgument,
                "reason: longer than " + std::to_string(kMaxReasonLength) + " bytes");
  }
  if (request.ticket && (request.ticket->empty() || request.ticket->size() > kMaxTicketLength)) {
    return fail(ErrorCode::kInvalidArgument,
                "ticket: 1 to " + std::to_string(kMaxTicketLength) + " bytes");
  }
  if (rule->require_ticket && !request.ticket) {
    return fail(ErrorCode::kInvalidArgument,
                "policy " + rule->name + " requires a ticket id (--ticket)");
  }
  const auto duration = request.duration.value_or(std::min(kDefaultDuration, rule->max_duration));
  if (duration.count() <= 0) return fail(ErrorCode::kInvalidArgument, "duration: must be positive");
  if (duration > rule->max_duration) {
    return fail(ErrorCode::kInvalidArgument, "duration " + format_duration(duration) +
                                                 " exceeds the maximum of policy " + rule->name +
                                                 " (" + format_duration(rule->max_duration) + ")");
  }
  Admission a;
  a.rule = rule;
  // A little slack for clocks: "now" on the client is a moment ago here.
  a.start = request.start.value_or(now);
  if (a.start < now - std::chrono::minutes(1)) {
    return fail(ErrorCode::kInvalidArgument, "start: in the past");
  }
  if (a.start > now + kMaxStartAhead) {
    return fail(ErrorCode::kInvalidArgument, "start: more than 30 days ahead");
  }
  if (request.break_glass && a.start > now) {
    return fail(ErrorCode::kInvalidArgument, "start: a break-glass request starts now");
  }
  a.end = a.start + duration;
  a.state = request.break_glass ? State::kApproved : State::kPending;
  return a;
}

Status evaluate(const Request& request, const std::vector<Review>& reviews, TimePoint now) {
  Status s;
  s.approvals_needed = request.approvals_needed;
  const auto mine = reviews_of(request, reviews);
  for (const Review* r : mine) {
    if (r->decision == Decision::kDeny) {
      s.denied_by_review = true;
    } else {
      ++s.approvals;
    }
  }
  s.review_overdue = request.break_glass && mine.empty();
  s.state = request.state;
  if (is_final(request.state)) return s;
  // A single deny ends the request, also a break-glass one that is in use.
  if (s.denied_by_review) {
    s.state = State::kDenied;
    return s;
  }
  const bool window_over = now >= request.end;
  switch (request.state) {
    case State::kPending:
      if (window_over) {
        s.state = State::kExpired;
      } else if (s.approvals >= request.approvals_needed) {
        s.state = State::kApproved;
      }
      break;
    case State::kApproved:
      if (window_over) s.state = State::kExpired;
      break;
    case State::kActive:
      if (window_over) s.state = State::kClosed;
      break;
    default:
      break;
  }
  return s;
}

Result<void> check_review(const Rule& rule, const Request& request,
                          const std::vector<Review>& reviews, const Person& reviewer,
                          Decision decision, const std::string& comment, TimePoint now) {
  if (reviewer.same_person(request.requester)) {
    return fail(ErrorCode::kPermissionDenied, "you cannot review your own request");
  }
  if (!any_matches(rule.approvers, reviewer)) {
    return fail(ErrorCode::kPermissionDenied, reviewer.name + " is not an approver for " +
                                                  request.host.name + " (policy " + rule.name +
                                                  ")");
  }
  for (const auto& r : reviews) {
    if (r.request_id == request.id && r.reviewer.same_person(reviewer)) {
      return fail(ErrorCode::kAlreadyExists, "you already reviewed request " + request.id);
    }
  }
  if (decision == Decision::kDeny && comment.find_first_not_of(" \t\r\n") == std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "a deny needs a comment");
  }
  const Status s = evaluate(request, reviews, now);
  if (s.state == State::kPending) return ok();
  // Break-glass access was opened without approval; it is reviewed while it lasts.
  if (request.break_glass && (s.state == State::kApproved || s.state == State::kActive)) {
    return ok();
  }
  return fail(ErrorCode::kInvalidArgument,
              "request " + request.id + " is " + to_string(s.state) + "; nothing to review");
}

Result<void> check_cancel(const Request& request, const std::vector<Review>& reviews,
                          const Person& person, TimePoint now) {
  if (person.user_id != request.requester.user_id) {
    return fail(ErrorCode::kPermissionDenied,
                "only the requester can cancel request " + request.id);
  }
  const Status s = evaluate(request, reviews, now);
  if (s.state != State::kPending && s.state != State::kApproved) {
    return fail(ErrorCode::kInvalidArgument,
                "request " + request.id + " is " + to_string(s.state) + "; it cannot be cancelled");
  }
  return ok();
}

bool grants(const Request& request, const std::vector<Review>& reviews, Mode mode, TimePoint now) {
  if (request.mode != mode) return false;
  const Status s = evaluate(request, reviews, now);
  if (s.state != State::kApproved && s.state != State::kActive) return false;
  return now >= request.start && now < request.end;
}

}  // namespace sekisho::approval
