// CheckoutService: the checks before a password is lent, the lending itself (one transaction that
// opens the check-out, reads the secret and audits the showing), and the three ways a check-out
// ends (check-in, end of window, its holder cut off), each owing the account a rotation.
#include "broker/access/checkout_service.hpp"

#include "base/logging.hpp"
#include "storage/checkouts.hpp"
#include "storage/credentials.hpp"
#include "storage/requests.hpp"
#include "storage/vault.hpp"

namespace sekisho::broker {

namespace {

std::string target_of(const storage::RequestRow& row) { return row.account + "@" + row.host; }

// Why an approved request in checkout mode does not grant a check-out now.
std::string no_grant_message(const RequestView& view) {
  const std::string state = approval::to_string(view.status.state);
  if (view.status.state == approval::State::kApproved ||
      view.status.state == approval::State::kActive) {
    return "request " + view.row.id + " grants no check-out now (" + state + "; its window is " +
           view.row.start_at + " to " + view.row.end_at + ")";
  }
  return "request " + view.row.id + " grants no check-out now (" + state + ")";
}

std::string held_message(const std::string& target, const storage::CheckoutRow& held) {
  return target + " is checked out by " + held.user_name + " until " + held.until + " (request " +
         held.request_id + ")";
}

Result<storage::AccountRow> account_of(storage::Store::Tx& tx, const storage::RequestRow& row) {
  auto found = storage::find_account_row(tx, row.host, row.account);
  if (!found) return tl::make_unexpected(found.error());
  if (!found->has_value()) return fail(ErrorCode::kNotFound, "no account " + target_of(row));
  return std::move(**found);
}

}  // namespace

bool has_rotation_connector(const std::string& protocol) {
  return protocol == "ssh" || protocol == "ldap";
}

CheckoutRules checkout_rules(const rotation::RotationSettings& settings) {
  CheckoutRules rules;
  rules.allow_unrotated = [&settings](const std::string& host, const std::string& group) {
    return rotation::rule_for(settings, host, group).allow_unrotated_checkout;
  };
  return rules;
}

CheckoutService::CheckoutService(storage::Store& store, storage::AuditLog& audit,
                                 RequestService& requests, RotationTrigger& rotation,
                                 CheckoutRules rules, const Clock& clock)
    : store_(store),
      audit_(audit),
      requests_(requests),
      rotation_(rotation),
      rules_(std::move(rules)),
      clock_(clock) {}

void CheckoutService::refused(const Caller& caller, const std::string& action,
                              const std::string& target, const std::string& request_id,
                              const Error& error) {
  (void)audit_.append(
      {caller.name, action, target, {{"request", request_id}, {"reason", error.message}}});
}

Result<LentPassword> CheckoutService::checkout(const Caller& caller,
                                               const std::string& request_id) {
  const std::string id = request_id.substr(0, 64);
  auto check = requests_.check_grant(id, approval::Mode::kCheckout);
  if (!check) {
    refused(caller, "credential.checkout_refused", id, id, check.error());
    return tl::make_unexpected(check.error());
  }
  const storage::RequestRow& row = check->view.row;
  Result<LentPassword> out = [&]() -> Result<LentPassword> {
    if (row.requester_id != caller.user_id) {
      return fail(ErrorCode::kPermissionDenied, "only the requester can check out request " + id);
    }
    if (row.mode != approval::to_string(approval::Mode::kCheckout)) {
      return fail(ErrorCode::kInvalidArgument, "request " + id + " is for " + row.mode +
                                                   " mode; a check-out needs a request in "
                                                   "checkout mode");
    }
    if (check->host_retired) {
      return fail(ErrorCode::kPermissionDenied, "host " + row.host + " is retired");
    }
    if (!check->grants) return fail(ErrorCode::kPermissionDenied, no_grant_message(check->view));
    return lend(caller, check->view);
  }();
  if (!out) refused(caller, "credential.checkout_refused", target_of(row), id, out.error());
  return out;
}

Result<LentPassword> CheckoutService::lend(const Caller& caller, const RequestView& view) {
  const storage::RequestRow& row = view.row;
  const std::string target = target_of(row);
  storage::AccountRow account;
  std::optional<storage::CheckoutRow> held;
  auto looked = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto a = account_of(tx, row);
    if (!a) return tl::make_unexpected(a.error());
    account = std::move(*a);
    auto h = storage::open_checkout_of_account(tx, account.id);
    if (!h) return tl::make_unexpected(h.error());
    held = std::move(*h);
    return ok();
  });
  if (!looked) return tl::make_unexpected(looked.error());
  if (account.kind != "password") {
    return fail(ErrorCode::kInvalidArgument, target +
                                                 " is vaulted as an SSH key; a check-out lends "
                                                 "passwords only (use a session)");
  }
  const bool unrotated = !has_rotation_connector(account.protocol);
  if (unrotated && !(rules_.allow_unrotated && rules_.allow_unrotated(row.host, row.host_group))) {
    return fail(ErrorCode::kPermissionDenied,
                target + " has no rotation connector (" + account.protocol +
                    " host): its password would outlive the window; a check-out needs "
                    "allow_unrotated_checkout in the host's rotation policy");
  }
  const bool mine = held && held->request_id == row.id;
  if (held && !mine) return fail(ErrorCode::kAlreadyExists, held_message(target, *held));
  // A password lent before and not rotated since is known to its last holder: lend it again only
  // once the owed rotation has run.
  if (!unrotated && !mine && !account.rotation_due.empty()) {
    return fail(ErrorCode::kUnavailable, target + " still owes the rotation after \"" +
                                             account.rotation_due +
                                             "\"; try again once it has been rotated");
  }
  if (!unrotated) {
    if (auto settled = rotation_.await_settled(account.id, rules_.settle_limit); !settled) {
      return tl::make_unexpected(settled.error());
    }
  }

  const std::string now = format_time(clock_.now());
  std::optional<LentPassword> lent;
  auto opened = store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto other = storage::open_checkout_of_account(tx, account.id);
    if (!other) return tl::make_unexpected(other.error());
    if (other->has_value() && (*other)->request_id != row.id) {
      return fail(ErrorCode::kAlreadyExists, held_message(target, **other));
    }
    auto open = storage::open_checkout(tx, row.id, account.id, caller.user_id, now, row.end_at);
    if (!open) return tl::make_unexpected(open.error());
    auto credential = storage::current_credential(tx, row.account, row.host);
    if (!credential) return tl::make_unexpected(credential.error());
    if (credential->kind != "password") {
      return fail(ErrorCode::kInvalidArgument, target +
                                                   " is vaulted as an SSH key; a check-out "
                                                   "lends passwords only (use a session)");
    }
    nlohmann::json details = {{"request", row.id}, {"until", open->until}};
    if (unrotated) details["unrotated"] = true;
    auto seq = audit_.append(tx, {caller.name, "credential.checkout", target, details});
    if (!seq) return tl::make_unexpected(seq.error());
    lent = LentPassword{row.id,      row.account, row.host,
                        open->until, unrotated,   std::move(credential->secret)};
    return ok();
  });
  if (!opened) return tl::make_unexpected(opened.error());
  if (auto active = requests_.activate(row.id, caller.name); !active) {
    return tl::make_unexpected(active.error());
  }
  return std::move(*lent);
}

Result<std::optional<CheckoutService::Ended>> CheckoutService::end_in(storage::Store::Tx& tx,
                                                                      const std::string& request_id,
                                                                      const std::string& reason,
                                                                      const std::string& actor,
                                                                      const std::string& action) {
  auto found = storage::find_checkout(tx, request_id);
  if (!found) return tl::make_unexpected(found.error());
  if (!found->has_value() || !(*found)->ended_at.empty()) return std::optional<Ended>();
  const storage::CheckoutRow& co = **found;
  auto request = storage::find_request(tx, request_id);
  if (!request) return tl::make_unexpected(request.error());
  if (!request->has_value()) return fail(ErrorCode::kCorrupt, "check-out of no request");
  const storage::RequestRow& row = **request;
  auto account = account_of(tx, row);
  if (!account) return tl::make_unexpected(account.error());
  const bool rotates = has_rotation_connector(account->protocol);

  auto ended = storage::end_checkout(tx, request_id, reason, format_time(clock_.now()));
  if (!ended) return tl::make_unexpected(ended.error());
  // The debt is stored with the end, in the same transaction: no crash can end a check-out and
  // forget its rotation.
  if (rotates) {
    auto due = storage::set_rotation_due(tx, co.account_id, reason);
    if (!due) return tl::make_unexpected(due.error());
  }
  auto seq = audit_.append(tx, {actor,
                                action,
                                target_of(row),
                                {{"request", request_id},
                                 {"holder", co.user_name},
                                 {"reason", reason},
                                 {"rotation", rotates ? "owed" : "manual"}}});
  if (!seq) return tl::make_unexpected(seq.error());
  return std::optional<Ended>(Ended{co.account_id, rotates});
}

bool CheckoutService::start_rotations(const std::vector<Ended>& ended, const std::string& reason,
                                      const std::string& actor) {
  bool all = true;
  for (const auto& e : ended) {
    if (!e.rotates) continue;
    if (auto r = rotation_.rotate_soon(e.account_id, reason, actor); !r) {
      // The debt is stored already; the rotation sweep starts it later.
      module_logger("requests")
          ->error("rotation after {} of account {} not started: {}", reason, e.account_id,
                  r.error().message);
      all = false;
    }
  }
  return all;
}

Result<Checkin> CheckoutService::checkin(const Caller& caller, const std::string& request_id) {
  const std::string id = request_id.substr(0, 64);
  auto check = requests_.check_grant(id, approval::Mode::kCheckout);
  if (!check) {
    refused(caller, "credential.checkin_refused", id, id, check.error());
    return tl::make_unexpected(check.error());
  }
  const storage::RequestRow& row = check->view.row;
  std::optional<Ended> ended;
  auto r = [&]() -> Result<void> {
    if (row.requester_id != caller.user_id) {
      return fail(ErrorCode::kPermissionDenied, "only the requester can check in request " + id);
    }
    return store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto e = end_in(tx, id, kCheckinReason, caller.name, "credential.checkin");
      if (!e) return tl::make_unexpected(e.error());
      if (!e->has_value()) {
        return fail(ErrorCode::kInvalidArgument, "request " + id + " has no open check-out");
      }
      ended = **e;
      return ok();
    });
  }();
  if (!r) {
    refused(caller, "credential.checkin_refused", target_of(row), id, r.error());
    return tl::make_unexpected(r.error());
  }
  Checkin out{id, row.account, row.host, "manual"};
  if (ended->rotates) {
    out.rotation = start_rotations({*ended}, kCheckinReason, caller.name) ? "started" : "owed";
  }
  if (auto closed = requests_.close(id, caller.name, kCheckinReason); !closed) {
    return tl::make_unexpected(closed.error());
  }
  return out;
}

Result<int> CheckoutService::sweep() {
  std::vector<Ended> ended;
  auto r = store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto past = storage::checkouts_past_window(tx, format_time(clock_.now()));
    if (!past) return tl::make_unexpected(past.error());
    for (const auto& co : *past) {
      auto e = end_in(tx, co.request_id, kWindowEndReason, "sekishod", "credential.checkout_ended");
      if (!e) return tl::make_unexpected(e.error());
      if (e->has_value()) ended.push_back(**e);
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  (void)start_rotations(ended, kWindowEndReason, "system");
  return static_cast<int>(ended.size());
}

Result<int> CheckoutService::end_checkouts_of(std::int64_t user_id, const std::string& actor,
                                              const std::string& reason) {
  std::vector<Ended> ended;
  auto r = store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    storage::RequestFilter filter;
    filter.requester_id = user_id;
    filter.states = {"approved", "active"};
    filter.limit = 10000;
    auto rows = storage::list_requests(tx, filter);
    if (!rows) return tl::make_unexpected(rows.error());
    for (const auto& row : *rows) {
      if (row.mode != approval::to_string(approval::Mode::kCheckout)) continue;
      auto e = end_in(tx, row.id, reason, actor, "credential.checkout_ended");
      if (!e) return tl::make_unexpected(e.error());
      if (e->has_value()) ended.push_back(**e);
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  (void)start_rotations(ended, reason, actor);
  return static_cast<int>(ended.size());
}

}  // namespace sekisho::broker
