// RequestService::create: a new access request, in its steps: resolve ACCOUNT@HOST to a
// registered account, admit it under the policy (approval::admit), store it with its audit
// events (request.create, and request.break_glass for break-glass), then tell the approvers.
#include "base/crypto.hpp"
#include "base/names.hpp"
#include "broker/access/request_service.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;

std::string new_request_id() {
  const Secret bytes = random_secret(6);
  return "r-" + hex_encode(bytes.bytes());
}

storage::RequestRow new_row(const Caller& caller, const CreateRequest& in, std::int64_t account_id,
                            const approval::Admission& admission, TimePoint now) {
  storage::RequestRow row;
  row.id = new_request_id();
  row.requester_id = caller.user_id;
  row.account_id = account_id;
  row.reason = in.reason;
  row.ticket = in.ticket;
  row.mode = approval::to_string(in.mode);
  row.state = approval::to_string(admission.state);
  row.break_glass = in.break_glass;
  row.start_at = format_time(admission.start);
  row.end_at = format_time(admission.end);
  row.created_at = format_time(now);
  row.updated_at = row.created_at;
  row.policy = admission.rule->name;
  row.approvals_needed = admission.rule->approvals;
  return row;
}

}  // namespace

Result<RequestView> RequestService::create(const Caller& caller, const CreateRequest& in) {
  const TimePoint now = clock_.now();
  RequestView view;
  auto r = store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto row = admit_new(tx, caller, in, now);
    if (!row) return tl::make_unexpected(row.error());
    if (auto e = store_new(tx, caller, in, *row); !e) return e;
    auto loaded = find_request_view(tx, row->id, now);
    if (!loaded) return tl::make_unexpected(loaded.error());
    view = std::move(*loaded);
    return ok();
  });
  if (!r) {
    (void)audit_.append({caller.name,
                         "request.refused",
                         in.target.substr(0, 200),
                         {{"action", "create"}, {"reason", r.error().message}}});
    return tl::make_unexpected(r.error());
  }
  announce_created(view);
  return view;
}

Result<storage::RequestRow> RequestService::admit_new(storage::Store::Tx& tx, const Caller& caller,
                                                      const CreateRequest& in, TimePoint now) {
  auto target = split_target(in.target);
  if (!target) return tl::make_unexpected(target.error());
  const auto& [account, host] = *target;
  auto ref = storage::find_account_ref(tx, host, account);
  if (!ref) return tl::make_unexpected(ref.error());
  if (!ref->has_value()) {
    return fail(ErrorCode::kNotFound, "no account " + account + "@" + host + " is registered");
  }
  if ((*ref)->host_retired) {
    return fail(ErrorCode::kPermissionDenied, "host " + host + " is retired");
  }
  auto requester = person(tx, caller.user_id, caller.name, caller.roles);
  if (!requester) return tl::make_unexpected(requester.error());
  approval::NewRequest n;
  n.requester = std::move(*requester);
  n.host = {host, (*ref)->host_group};
  n.account = account;
  n.mode = in.mode;
  n.reason = in.reason;
  n.ticket = in.ticket;
  n.duration = in.duration;
  n.start = in.start;
  n.break_glass = in.break_glass;
  auto admission = approval::admit(policy_, n, now);
  if (!admission) return tl::make_unexpected(admission.error());
  return new_row(caller, in, (*ref)->account_id, *admission, now);
}

Result<void> RequestService::store_new(storage::Store::Tx& tx, const Caller& caller,
                                       const CreateRequest& in, const storage::RequestRow& row) {
  if (auto e = storage::insert_request(tx, row); !e) return e;
  auto seq = audit_.append(tx, {caller.name,
                                "request.create",
                                in.target,
                                {{"request", row.id},
                                 {"reason", row.reason},
                                 {"ticket", row.ticket ? json(*row.ticket) : json(nullptr)},
                                 {"mode", row.mode},
                                 {"start", row.start_at},
                                 {"end", row.end_at},
                                 {"policy", row.policy},
                                 {"approvals_needed", row.approvals_needed},
                                 {"state", row.state}}});
  if (!seq) return tl::make_unexpected(seq.error());
  if (in.break_glass) {
    // A distinct event, so that break-glass use stands out in every audit query.
    seq = audit_.append(tx, {caller.name,
                             "request.break_glass",
                             in.target,
                             {{"request", row.id}, {"reason", row.reason}, {"end", row.end_at}}});
    if (!seq) return tl::make_unexpected(seq.error());
  }
  return ok();
}

void RequestService::announce_created(const RequestView& view) {
  const std::string target = view.row.account + "@" + view.row.host;
  if (view.row.break_glass) {
    notify("request.break_glass", view,
           "BREAK-GLASS: " + view.row.requester + " opened " + target + " without approval (" +
               view.row.id + "): " + view.row.reason + " — review it now");
  } else {
    notify("request.created", view,
           view.row.requester + " requests " + target + " (" + view.row.mode + ", until " +
               view.row.end_at + "): " + view.row.reason + " — " + view.row.id + " needs " +
               std::to_string(view.status.approvals_needed) + " approval(s)");
  }
}

}  // namespace sekisho::broker
