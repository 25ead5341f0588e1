#include "broker/auth/directory_recheck.hpp"

#include "base/logging.hpp"
#include "storage/requests.hpp"
#include "storage/users.hpp"

namespace sekisho::broker {

namespace {

constexpr const char* kActor = "sekishod";

}  // namespace

Result<std::optional<RecheckReport>> DirectoryRecheck::run_if_due() {
  const TimePoint now = clock_.now();
  if (last_run_ && now < *last_run_ + interval_) return std::optional<RecheckReport>();
  last_run_ = now;
  auto report = run();
  if (!report) return tl::make_unexpected(report.error());
  return std::optional<RecheckReport>(*report);
}

Result<RecheckReport> DirectoryRecheck::run() {
  std::vector<storage::AccessHolder> holders;
  auto read = targets_.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto h = storage::users_holding_access(tx, format_time(clock_.now()));
    if (!h) return tl::make_unexpected(h.error());
    holders = std::move(*h);
    return ok();
  });
  if (!read) return tl::make_unexpected(read.error());
  RecheckReport report;
  for (const auto& user : holders) {
    ++report.checked;
    // One user's failure (a store error) must not spare the others.
    if (auto r = check(user, report); !r) {
      module_logger("auth")->error("recheck of {}: {}", user.name, r.error().message);
    }
  }
  if (report.unreachable > 0) {
    module_logger("auth")->warn(
        "directory recheck: the directory could not answer for {} user(s); their live sessions "
        "go on, new logins are refused",
        report.unreachable);
  }
  return report;
}

Result<void> DirectoryRecheck::check(const storage::AccessHolder& user, RecheckReport& report) {
  if (user.disabled) return cut_off(user, "disabled in the gateway", report);
  if (user.source != "ldap") return keep_roles(user, nullptr, report);
  auto identity = directory_.lookup(user.name);
  if (!identity) {
    if (identity.error().code == ErrorCode::kNotFound) {
      return cut_off(user, "not in the directory", report);
    }
    ++report.unreachable;
    return ok();
  }
  if (identity->status == ldap::StaffStatus::kDeparted) {
    return cut_off(user, "departed in the directory", report);
  }
  if (identity->status == ldap::StaffStatus::kDisabled) {
    return cut_off(user, "disabled in the directory", report);
  }
  return keep_roles(user, &*identity, report);
}

Result<void> DirectoryRecheck::cut_off(const storage::AccessHolder& user, const std::string& why,
                                       RecheckReport& report) {
  auto counts = cut_off_user(targets_, user.id, user.name, kActor);
  if (!counts) return tl::make_unexpected(counts.error());
  if (!counts->any()) return ok();  // cut off before: its session rows are still ending
  ++report.cut_off;
  module_logger("auth")->warn("user {} cut off: {}", user.name, why);
  auto seq = targets_.audit.append({kActor,
                                    "user.cut_off",
                                    user.name,
                                    {{"reason", why},
                                     {"tokens", counts->tokens},
                                     {"sessions", counts->sessions},
                                     {"requests", counts->requests},
                                     {"checkouts", counts->checkouts}}});
  if (!seq) return tl::make_unexpected(seq.error());
  return ok();
}

Result<void> DirectoryRecheck::keep_roles(const storage::AccessHolder& user,
                                          const ldap::Identity* identity, RecheckReport& report) {
  int reduced = 0;
  std::vector<std::string> roles;
  auto r = targets_.store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (identity != nullptr) {
      roles = identity->roles;
      // Approval rules match the stored entry and groups: a member removed from an approver
      // group stops matching "group:…" selectors now, not at their next login.
      if (auto p = storage::set_directory_profile(tx, user.id, {identity->dn, identity->groups});
          !p) {
        return p;
      }
    } else {
      auto found = storage::find_user(tx, user.name);
      if (!found) return tl::make_unexpected(found.error());
      if (found->has_value()) roles = (*found)->roles;
    }
    auto n = storage::restrict_token_roles(tx, user.id, roles);
    if (!n) return tl::make_unexpected(n.error());
    reduced = *n;
    if (reduced == 0) return ok();
    auto seq = targets_.audit.append(
        tx, {kActor, "user.roles_reduced", user.name, {{"roles", roles}, {"tokens", reduced}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
  if (!r) return r;
  if (reduced > 0) ++report.reduced;
  return ok();
}

}  // namespace sekisho::broker
