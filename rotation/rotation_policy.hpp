// Which password policy, schedule and accounts a host's rotations use: the `[[rotation.policy]]`
// rules of the daemon's configuration, matched like `[[policy]]` (first rule covering the host
// wins), and the schedule arithmetic. Pure.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "rotation/password_policy.hpp"

namespace sekisho::rotation {

struct RotationRule {
  std::string name;
  // Host names, shell globs (`web*`), or "group:NAME", as in [[policy]].
  std::vector<std::string> hosts;
  PasswordPolicy password;
  // How often an account is rotated; none: only on demand, after check-in and at window end.
  std::optional<std::chrono::seconds> every;
  // A check-out of an account no connector can rotate (`manual`) is allowed (and audited).
  bool allow_unrotated_checkout = false;
  std::string rotation_account;   // "": log in as the account itself
  std::string reconcile_account;  // "": none
  // After a change, also check that the old password is refused (EngineOptions).
  bool check_old_refused = true;

  // Whether `hosts` names the host (`group` "" when it is in no group). Pure.
  bool covers(const std::string& host, const std::string& group) const;
};

struct RotationSettings {
  std::vector<RotationRule> rules;
  int concurrency = 4;    // rotations at once ([rotation] concurrency, 1..64)
  int keep_previous = 3;  // previous versions kept per account ([rotation] keep_previous, 0..20)
};

// The built-in rule for hosts no rule covers: "default", every host, length 32, all four
// classes, no schedule, no rotation or reconcile account, old password checked.
const RotationRule& default_rotation_rule();

// The first rule of `settings` covering the host, else default_rotation_rule(). The reference
// lives as long as `settings` (or forever for the default). Pure.
const RotationRule& rule_for(const RotationSettings& settings, const std::string& host,
                             const std::string& group);

// When an account last rotated (or created, if never) at `last` is next due under `every`;
// TimePoint::max() when that is beyond what a TimePoint holds. Pure.
TimePoint next_due(TimePoint last, std::chrono::seconds every);

// Whether such an account is due at `now`: never without a schedule, else from next_due on. Pure.
bool is_due(TimePoint last, std::optional<std::chrono::seconds> every, TimePoint now);

}  // namespace sekisho::rotation
