// The transitions of a request that no reviewer makes: a gateway session or a check-out starting
// under it (activate, check_grant), a check-in ending it early (close), its requester leaving
// (end_requests_of), and time (sweep: expiry, closing, the reminder of an unreviewed break-glass
// request).
#include "broker/access/request_service.hpp"

namespace sekisho::broker {

Result<void> RequestService::activate(const std::string& request_id, const std::string& actor) {
  const TimePoint now = clock_.now();
  return store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto view = find_request_view(tx, request_id, now);
    if (!view) return tl::make_unexpected(view.error());
    auto request = to_request(tx, view->row);
    if (!request) return tl::make_unexpected(request.error());
    auto reviews = to_reviews(tx, view->reviews);
    if (!reviews) return tl::make_unexpected(reviews.error());
    if (!approval::grants(*request, *reviews, request->mode, now)) {
      return fail(ErrorCode::kPermissionDenied, "request " + request_id +
                                                    " grants no access now (" +
                                                    approval::to_string(view->status.state) + ")");
    }
    if (view->status.state == approval::State::kActive) return ok();
    view->status.state = approval::State::kActive;
    auto settled = settle(tx, *view, actor, now);
    if (!settled) return tl::make_unexpected(settled.error());
    return ok();
  });
}

Result<GrantCheck> RequestService::check_grant(const std::string& id, approval::Mode mode) {
  const TimePoint now = clock_.now();
  GrantCheck out;
  auto r = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto view = find_request_view(tx, id, now);
    if (!view) return tl::make_unexpected(view.error());
    auto request = to_request(tx, view->row);
    if (!request) return tl::make_unexpected(request.error());
    auto reviews = to_reviews(tx, view->reviews);
    if (!reviews) return tl::make_unexpected(reviews.error());
    auto ref = storage::find_account_ref(tx, view->row.host, view->row.account);
    if (!ref) return tl::make_unexpected(ref.error());
    // A retired host grants nothing, as in grant(), not even under a request approved before.
    out.host_retired = ref->has_value() && (*ref)->host_retired;
    out.grants = !out.host_retired && approval::grants(*request, *reviews, mode, now);
    out.view = std::move(*view);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return out;
}

Result<void> RequestService::close(const std::string& request_id, const std::string& actor,
                                   const std::string& reason) {
  const TimePoint now = clock_.now();
  return store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto view = find_request_view(tx, request_id, now);
    if (!view) return tl::make_unexpected(view.error());
    const approval::State state = view->status.state;
    if (approval::is_final(state)) {
      // Time ended it already: write what the sweep would (if it has not yet), nothing more.
      auto settled = settle(tx, *view, actor, now);
      if (!settled) return tl::make_unexpected(settled.error());
      return ok();
    }
    if (state != approval::State::kApproved && state != approval::State::kActive) {
      return fail(ErrorCode::kInvalidArgument, "request " + request_id + " is " +
                                                   approval::to_string(state) +
                                                   "; only a request in use can be closed");
    }
    const std::string from = view->row.state;
    if (auto e = storage::set_request_state(tx, request_id, "closed", format_time(now)); !e) {
      return e;
    }
    auto seq = audit_.append(tx, {actor,
                                  "request.closed",
                                  view->row.account + "@" + view->row.host,
                                  {{"request", request_id}, {"from", from}, {"reason", reason}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
}

Result<int> RequestService::end_requests_of(std::int64_t user_id, const std::string& actor,
                                            const std::string& reason) {
  const TimePoint now = clock_.now();
  int ended = 0;
  auto r = store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    storage::RequestFilter filter;
    filter.requester_id = user_id;
    filter.states = {"pending", "approved", "active"};
    filter.limit = 10000;
    auto rows = storage::list_requests(tx, filter);
    if (!rows) return tl::make_unexpected(rows.error());
    for (const auto& row : *rows) {
      const std::string next = row.state == "active" ? "closed" : "cancelled";
      if (auto e = storage::set_request_state(tx, row.id, next, format_time(now)); !e) return e;
      auto seq =
          audit_.append(tx, {actor,
                             "request." + next,
                             row.account + "@" + row.host,
                             {{"request", row.id}, {"from", row.state}, {"reason", reason}}});
      if (!seq) return tl::make_unexpected(seq.error());
      ++ended;
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ended;
}

Result<void> RequestService::sweep() {
  const TimePoint now = clock_.now();
  std::vector<RequestView> overdue;
  auto r = store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    storage::RequestFilter filter;
    filter.states = {"pending", "approved", "active"};
    filter.limit = 10000;
    auto rows = storage::list_requests(tx, filter);
    if (!rows) return tl::make_unexpected(rows.error());
    for (const auto& row : *rows) {
      auto view = load(tx, row, now);
      if (!view) return tl::make_unexpected(view.error());
      auto settled = settle(tx, *view, "sekishod", now);
      if (!settled) return tl::make_unexpected(settled.error());
      auto created = parse_time(row.created_at);
      if (view->row.break_glass && view->status.review_overdue && !row.overdue_notified &&
          created && now >= *created + policy_.break_glass_review_within) {
        if (auto e = storage::set_overdue_notified(tx, row.id); !e) return e;
        auto seq = audit_.append(
            tx, {"sekishod",
                 "request.review_overdue",
                 row.account + "@" + row.host,
                 {{"request", row.id},
                  {"requester", row.requester},
                  {"review_within", format_duration(policy_.break_glass_review_within)}}});
        if (!seq) return tl::make_unexpected(seq.error());
        overdue.push_back(std::move(*view));
      }
    }
    return ok();
  });
  if (!r) return r;
  for (const auto& view : overdue) {
    notify("request.review_overdue", view,
           "OVERDUE: break-glass request " + view.row.id + " (" + view.row.requester + " → " +
               view.row.account + "@" + view.row.host + ") has not been reviewed");
  }
  return ok();
}

}  // namespace sekisho::broker
