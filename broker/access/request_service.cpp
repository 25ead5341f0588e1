// RequestService: the store <-> approval/ conversions every step shares, the reads (list, show,
// grant) and the reviewers' and requester's decisions (review, cancel). create() is in
// request_admission.cpp; activate, end_requests_of and sweep in request_lifecycle.cpp.
#include "broker/access/request_service.hpp"

#include <spdlog/spdlog.h>

#include "base/logging.hpp"
#include "storage/hosts.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;

// Approval rules need these roles to see other people's requests.
bool sees_all(const Caller& caller) {
  return caller.has_role("approver") || caller.has_role("auditor");
}

json request_fields(const RequestView& v) {
  const auto& r = v.row;
  return {{"request", r.id},
          {"requester", r.requester},
          {"target", r.account + "@" + r.host},
          {"mode", r.mode},
          {"reason", r.reason},
          {"ticket", r.ticket ? json(*r.ticket) : json(nullptr)},
          {"start", r.start_at},
          {"end", r.end_at},
          {"state", approval::to_string(v.status.state)},
          {"approvals", v.status.approvals},
          {"approvals_needed", v.status.approvals_needed},
          {"break_glass", r.break_glass},
          {"review_overdue", v.status.review_overdue}};
}

}  // namespace

RequestService::RequestService(storage::Store& store, storage::AuditLog& audit,
                               approval::Policy policy, Notifier* notifier, const Clock& clock)
    : store_(store),
      audit_(audit),
      policy_(std::move(policy)),
      notifier_(notifier),
      clock_(clock) {}

Result<approval::Person> RequestService::person(storage::Store::Tx& tx, std::int64_t user_id,
                                                const std::string& name,
                                                std::vector<std::string> roles) {
  auto profile = storage::directory_profile(tx, user_id);
  if (!profile) return tl::make_unexpected(profile.error());
  return approval::Person{user_id, name, profile->entry, std::move(roles),
                          std::move(profile->groups)};
}

Result<approval::Request> RequestService::to_request(storage::Store::Tx& tx,
                                                     const storage::RequestRow& row) {
  approval::Request r;
  r.id = row.id;
  auto requester = person(tx, row.requester_id, row.requester, {});
  if (!requester) return tl::make_unexpected(requester.error());
  r.requester = std::move(*requester);
  r.host = {row.host, row.host_group};
  r.account = row.account;
  auto mode = approval::parse_mode(row.mode);
  auto state = approval::parse_state(row.state);
  auto start = parse_time(row.start_at);
  auto end = parse_time(row.end_at);
  auto created = parse_time(row.created_at);
  if (!mode || !state || !start || !end || !created) {
    return fail(ErrorCode::kCorrupt, "request " + row.id + ": unreadable stored fields");
  }
  r.mode = *mode;
  r.reason = row.reason;
  r.ticket = row.ticket;
  r.state = *state;
  r.break_glass = row.break_glass;
  r.start = *start;
  r.end = *end;
  r.created = *created;
  r.policy = row.policy;
  r.approvals_needed = row.approvals_needed;
  return r;
}

Result<std::vector<approval::Review>> RequestService::to_reviews(
    storage::Store::Tx& tx, const std::vector<storage::ReviewRow>& rows) {
  std::vector<approval::Review> out;
  for (const auto& row : rows) {
    auto reviewer = person(tx, row.reviewer_id, row.reviewer, {});
    if (!reviewer) return tl::make_unexpected(reviewer.error());
    auto at = parse_time(row.created_at);
    if (!at) return fail(ErrorCode::kCorrupt, "review of " + row.request_id + ": bad time");
    out.push_back(
        {row.request_id, std::move(*reviewer),
         row.decision == "deny" ? approval::Decision::kDeny : approval::Decision::kApprove,
         row.comment, *at});
  }
  return out;
}

Result<RequestView> RequestService::load(storage::Store::Tx& tx, const storage::RequestRow& row,
                                         TimePoint now) {
  RequestView view;
  view.row = row;
  auto reviews = storage::list_reviews(tx, row.id);
  if (!reviews) return tl::make_unexpected(reviews.error());
  view.reviews = std::move(*reviews);
  auto request = to_request(tx, row);
  if (!request) return tl::make_unexpected(request.error());
  auto reviews_in = to_reviews(tx, view.reviews);
  if (!reviews_in) return tl::make_unexpected(reviews_in.error());
  view.status = approval::evaluate(*request, *reviews_in, now);
  return view;
}

Result<bool> RequestService::settle(storage::Store::Tx& tx, RequestView& view,
                                    const std::string& actor, TimePoint now) {
  const std::string next = approval::to_string(view.status.state);
  if (next == view.row.state) return false;
  const std::string from = view.row.state;
  if (auto r = storage::set_request_state(tx, view.row.id, next, format_time(now)); !r) {
    return tl::make_unexpected(r.error());
  }
  view.row.state = next;
  view.row.updated_at = format_time(now);
  auto seq = audit_.append(tx, {actor,
                                "request." + next,
                                view.row.account + "@" + view.row.host,
                                {{"request", view.row.id},
                                 {"from", from},
                                 {"approvals", view.status.approvals},
                                 {"approvals_needed", view.status.approvals_needed}}});
  if (!seq) return tl::make_unexpected(seq.error());
  return true;
}

void RequestService::notify(const std::string& event, const RequestView& view,
                            const std::string& text) {
  if (notifier_ == nullptr) return;
  Notification n{event, text, request_fields(view)};
  auto approvers = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto names = storage::users_with_role(tx, "approver");
    if (!names) return tl::make_unexpected(names.error());
    n.fields["approvers"] = *names;
    return ok();
  });
  if (!approvers)
    spdlog::warn("notification {}: approver list: {}", event, approvers.error().message);
  notifier_->notify(std::move(n));
}

Result<RequestView> RequestService::find_request_view(storage::Store::Tx& tx, const std::string& id,
                                                      TimePoint now) {
  auto row = storage::find_request(tx, id);
  if (!row) return tl::make_unexpected(row.error());
  if (!row->has_value()) return fail(ErrorCode::kNotFound, "no request " + id.substr(0, 64));
  return load(tx, **row, now);
}

Result<std::vector<RequestView>> RequestService::list(const Caller& caller, bool pending,
                                                      bool mine) {
  const TimePoint now = clock_.now();
  std::vector<RequestView> out;
  auto r = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    storage::RequestFilter filter;
    if (mine || !sees_all(caller)) filter.requester_id = caller.user_id;
    if (pending) filter.states = {"pending", "approved", "active"};
    auto rows = storage::list_requests(tx, filter);
    if (!rows) return tl::make_unexpected(rows.error());
    for (const auto& row : *rows) {
      auto view = load(tx, row, now);
      if (!view) return tl::make_unexpected(view.error());
      if (pending && view->status.state != approval::State::kPending &&
          !view->status.review_overdue) {
        continue;
      }
      out.push_back(std::move(*view));
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return out;
}

Result<RequestView> RequestService::show(const Caller& caller, const std::string& id) {
  const TimePoint now = clock_.now();
  RequestView view;
  auto r = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto loaded = find_request_view(tx, id, now);
    if (!loaded) return tl::make_unexpected(loaded.error());
    // Someone else's request does not exist for a requester (its existence is not theirs).
    if (!sees_all(caller) && loaded->row.requester_id != caller.user_id) {
      return fail(ErrorCode::kNotFound, "no request " + id.substr(0, 64));
    }
    view = std::move(*loaded);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return view;
}

Result<RequestView> RequestService::review(const Caller& caller, const std::string& id,
                                           approval::Decision decision,
                                           const std::string& comment) {
  const TimePoint now = clock_.now();
  RequestView view;
  bool changed = false;
  auto r = store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto loaded = find_request_view(tx, id, now);
    if (!loaded) return tl::make_unexpected(loaded.error());
    view = std::move(*loaded);
    if (auto e = record_review(tx, caller, view, decision, comment, now); !e) return e;
    auto reloaded = find_request_view(tx, id, now);
    if (!reloaded) return tl::make_unexpected(reloaded.error());
    view = std::move(*reloaded);
    auto settled = settle(tx, view, caller.name, now);
    if (!settled) return tl::make_unexpected(settled.error());
    changed = *settled;
    return ok();
  });
  if (!r) {
    (void)audit_.append(
        {caller.name,
         "request.refused",
         id.substr(0, 64),
         {{"action", approval::to_string(decision)}, {"reason", r.error().message}}});
    return tl::make_unexpected(r.error());
  }
  if (changed) announce_decided(caller, view, comment);
  return view;
}

Result<void> RequestService::record_review(storage::Store::Tx& tx, const Caller& caller,
                                           const RequestView& view, approval::Decision decision,
                                           const std::string& comment, TimePoint now) {
  const approval::Rule* rule = policy_.rule_for({view.row.host, view.row.host_group});
  if (rule == nullptr) {
    return fail(ErrorCode::kPermissionDenied, "no policy covers host " + view.row.host);
  }
  auto reviewer = person(tx, caller.user_id, caller.name, caller.roles);
  if (!reviewer) return tl::make_unexpected(reviewer.error());
  auto request = to_request(tx, view.row);
  if (!request) return tl::make_unexpected(request.error());
  auto reviews = to_reviews(tx, view.reviews);
  if (!reviews) return tl::make_unexpected(reviews.error());
  if (auto c = approval::check_review(*rule, *request, *reviews, *reviewer, decision, comment, now);
      !c) {
    return c;
  }
  storage::ReviewRow row{view.row.id, caller.user_id,  caller.name, approval::to_string(decision),
                         comment,     format_time(now)};
  if (auto e = storage::insert_review(tx, row); !e) return e;
  auto seq = audit_.append(tx, {caller.name,
                                "request.review",
                                view.row.account + "@" + view.row.host,
                                {{"request", view.row.id},
                                 {"decision", row.decision},
                                 {"comment", comment},
                                 {"break_glass", view.row.break_glass}}});
  if (!seq) return tl::make_unexpected(seq.error());
  return ok();
}

void RequestService::announce_decided(const Caller& caller, const RequestView& view,
                                      const std::string& comment) {
  const std::string target = view.row.account + "@" + view.row.host;
  if (view.status.state == approval::State::kApproved) {
    notify(
        "request.approved", view,
        view.row.id + " (" + view.row.requester + " → " + target + ") approved by " + caller.name);
  } else if (view.status.state == approval::State::kDenied) {
    notify("request.denied", view,
           view.row.id + " (" + view.row.requester + " → " + target + ") denied by " + caller.name +
               ": " + comment);
  }
}

Result<RequestView> RequestService::cancel(const Caller& caller, const std::string& id) {
  const TimePoint now = clock_.now();
  RequestView view;
  auto r = store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto loaded = find_request_view(tx, id, now);
    if (!loaded) return tl::make_unexpected(loaded.error());
    view = std::move(*loaded);
    auto me = person(tx, caller.user_id, caller.name, caller.roles);
    if (!me) return tl::make_unexpected(me.error());
    auto request = to_request(tx, view.row);
    if (!request) return tl::make_unexpected(request.error());
    auto reviews = to_reviews(tx, view.reviews);
    if (!reviews) return tl::make_unexpected(reviews.error());
    if (auto c = approval::check_cancel(*request, *reviews, *me, now); !c) return c;
    view.status.state = approval::State::kCancelled;
    auto settled = settle(tx, view, caller.name, now);
    if (!settled) return tl::make_unexpected(settled.error());
    return ok();
  });
  if (!r) {
    (void)audit_.append({caller.name,
                         "request.refused",
                         id.substr(0, 64),
                         {{"action", "cancel"}, {"reason", r.error().message}}});
    return tl::make_unexpected(r.error());
  }
  return view;
}

Result<std::optional<Grant>> RequestService::grant(std::int64_t user_id, const std::string& account,
                                                   const std::string& host, approval::Mode mode) {
  const TimePoint now = clock_.now();
  std::optional<Grant> found;
  auto r = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto ref = storage::find_account_ref(tx, host, account);
    if (!ref) return tl::make_unexpected(ref.error());
    // A retired host grants nothing, not even under a request approved before it was retired.
    if (!ref->has_value() || (*ref)->host_retired) return ok();
    storage::RequestFilter filter;
    filter.requester_id = user_id;
    filter.account_id = (*ref)->account_id;
    filter.states = {"approved", "active"};
    auto rows = storage::list_requests(tx, filter);
    if (!rows) return tl::make_unexpected(rows.error());
    for (const auto& row : *rows) {
      auto request = to_request(tx, row);
      if (!request) return tl::make_unexpected(request.error());
      auto review_rows = storage::list_reviews(tx, row.id);
      if (!review_rows) return tl::make_unexpected(review_rows.error());
      auto reviews = to_reviews(tx, *review_rows);
      if (!reviews) return tl::make_unexpected(reviews.error());
      if (approval::grants(*request, *reviews, mode, now) &&
          (!found || request->end > found->end)) {
        found = Grant{row.id, request->end, request->policy};
      }
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return found;
}

}  // namespace sekisho::broker
