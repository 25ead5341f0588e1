// CheckoutService: lending a vaulted password for the window of an approved request in checkout
// mode (DESIGN.md "Access model", "Password rotation"), and taking it back.
//
// A check-out shows the account's current password to the request's requester, only while the
// request grants `checkout` now, and holds the account exclusively (storage/checkouts.hpp: one open
// check-out per account). It ends by a check-in, by the end of the window (sweep) or by its holder
// being cut off; every end owes the account a rotation, so a lent password never outlives its
// window. Session-mode sessions of the account are not affected by a check-out.
//
// Crash safety: a check-out ends and its rotation is owed in one transaction
// (storage::end_checkout + storage::set_rotation_due); only then is the rotation started
// (RotationTrigger::rotate_soon). A daemon that dies in between finds the debt at its next start.
//
// Key credentials are not lent: a private key copied to a laptop lives on in files and agents
// beyond any window, and session mode serves key accounts without showing the key. Accounts of
// hosts without a rotation connector (rdp: "manual") are lent only where the host's rotation rule
// allows unrotated check-outs; nothing rotates them afterwards, and the audit says so.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "base/secret.hpp"
#include "broker/access/request_service.hpp"
#include "broker/auth/auth_service.hpp"
#include "broker/rotation/rotation_trigger.hpp"
#include "rotation/rotation_policy.hpp"
#include "storage/audit_log.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// End reasons of a check-out (stored with it, audited, and the reason of the owed rotation).
inline constexpr const char* kCheckinReason = "checkin";
inline constexpr const char* kWindowEndReason = "window end";

// Whether a host protocol has a rotation connector: ssh (chpasswd) and ldap (password modify, AD
// unicodePwd) do; rdp (Windows local accounts) has none yet, its accounts are "manual". Pure.
bool has_rotation_connector(const std::string& protocol);

struct CheckoutRules {
  // Whether the rotation rule of `host` (in host group `group`) lets a check-out lend the
  // password of a manual account (allow_unrotated_checkout). Empty: never.
  std::function<bool(const std::string& host, const std::string& group)> allow_unrotated;
  // How long a check-out waits for an account in doubt (an interrupted rotation) to settle.
  std::chrono::milliseconds settle_limit{30'000};
};

// The rules of the daemon's `[[rotation.policy]]`: a manual account is lent only where the rule
// covering its host (rotation::rule_for) sets allow_unrotated_checkout. `settings` outlives the
// rules. Pure.
CheckoutRules checkout_rules(const rotation::RotationSettings& settings);

// A password lent for a request's window. The only place the secret leaves the core.
struct LentPassword {
  std::string request_id;
  std::string account;
  std::string host;
  std::string until;       // the end of the window (ISO 8601 UTC)
  bool unrotated = false;  // a manual account: nothing rotates it when the check-out ends
  Secret password;
};

// What a check-in ended.
struct Checkin {
  std::string request_id;
  std::string account;
  std::string host;
  // "started"; "owed" (stored, but it did not start: the rotation sweep starts it); "manual" (no
  // rotation connector: nothing rotates it)
  std::string rotation;
};

class CheckoutService {
 public:
  // All references outlive the service.
  CheckoutService(storage::Store& store, storage::AuditLog& audit, RequestService& requests,
                  RotationTrigger& rotation, CheckoutRules rules, const Clock& clock);

  // Lends the current password of the request's ACCOUNT@HOST to `caller`, audited as
  // credential.checkout (request, until; never the secret), and marks the request active. Showing
  // it again under the same request within the window is allowed (and audited again). Refusals,
  // each audited as credential.checkout_refused with the message: kNotFound (no such request),
  // kPermissionDenied (not the requester; no grant now; a manual account without
  // allow_unrotated_checkout), kInvalidArgument (a session-mode request, a key credential),
  // kAlreadyExists "ACCOUNT@HOST is checked out by USER until TIME (request ID)", kUnavailable
  // (the account is in doubt past the settle limit, or still owed the rotation of the last
  // check-out). Blocking (waits for an account in doubt); any thread.
  [[nodiscard]] Result<LentPassword> checkout(const Caller& caller, const std::string& request_id);

  // Ends the caller's open check-out under `request_id` early: the check-out ends ("checkin") and
  // the account owes a rotation, then the rotation starts and the request is closed. Refusals
  // (audited as credential.checkin_refused): kNotFound (no such request), kPermissionDenied
  // "only the requester can check in request ID", kInvalidArgument "request ID has no open
  // check-out". Any thread.
  [[nodiscard]] Result<Checkin> checkin(const Caller& caller, const std::string& request_id);

  // Ends every open check-out whose window has passed ("window end"), owes their accounts a
  // rotation and starts it (actor "system"); the request sweep closes the requests. Returns how
  // many it ended. The daemon calls it every second. Any thread.
  [[nodiscard]] Result<int> sweep();

  // Ends every open check-out held by user `user_id` (a leaver, a disabled user) with `reason`,
  // owing each account a rotation for that reason (audited by `actor`). Call it before the user's
  // requests are ended. Returns how many it ended. Any thread.
  [[nodiscard]] Result<int> end_checkouts_of(std::int64_t user_id, const std::string& actor,
                                             const std::string& reason);

 private:
  struct Ended {
    std::int64_t account_id = 0;
    bool rotates = false;
  };
  Result<LentPassword> lend(const Caller& caller, const RequestView& view);
  // Ends the open check-out of `request_id` and owes its account a rotation, in `tx`; audits
  // credential.checkin (actor a user) or credential.checkout_ended. nullopt when none is open.
  Result<std::optional<Ended>> end_in(storage::Store::Tx& tx, const std::string& request_id,
                                      const std::string& reason, const std::string& actor,
                                      const std::string& action);
  // Starts the owed rotations; a failure to start is logged (the debt is stored: the rotation
  // sweep redoes it). Returns whether every one started.
  bool start_rotations(const std::vector<Ended>& ended, const std::string& reason,
                       const std::string& actor);
  void refused(const Caller& caller, const std::string& action, const std::string& target,
               const std::string& request_id, const Error& error);

  storage::Store& store_;
  storage::AuditLog& audit_;
  RequestService& requests_;
  RotationTrigger& rotation_;
  CheckoutRules rules_;
  const Clock& clock_;
};

}  // namespace sekisho::broker
