// What the rest of the core asks of password rotation, without knowing how it is done: owe an
// account a rotation (after a check-in, at the end of a check-out window, for a leaver), and wait
// until an account in doubt is settled before its secret is used (a session's target login, a
// check-out). The RotationService implements it; tests use a fake.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/result.hpp"

namespace sekisho::broker {

class RotationTrigger {
 public:
  virtual ~RotationTrigger() = default;
  // Records durably that `account_id` owes a rotation for `reason` ("checkin", "window end",
  // "seen-by USER") and starts it in the background; returns once the debt is stored (a crash
  // after that still rotates at the next start). `actor` is who caused it, for the audit.
  // Thread-safe.
  [[nodiscard]] virtual Result<void> rotate_soon(std::int64_t account_id, const std::string& reason,
                                                 const std::string& actor) = 0;
  // Returns once `account_id` is not in doubt (no pending version), recovering it first if no one
  // is; kUnavailable "ACCOUNT@HOST is being recovered after an interrupted rotation; try again"
  // after `limit`, and kUnavailable "… is marked unknown: …" for an account nothing could settle.
  // Blocking; any thread.
  [[nodiscard]] virtual Result<void> await_settled(std::int64_t account_id,
                                                   std::chrono::milliseconds limit) = 0;
};

}  // namespace sekisho::broker
