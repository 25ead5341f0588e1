// Cutting a user off: what a disabled user or a leaver holds in the gateway ends at once.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.hpp"
#include "broker/access/checkout_service.hpp"
#include "broker/access/request_service.hpp"
#include "storage/audit_log.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// The end reason of sessions and requests ended by a cut-off (shown to the user and audited).
inline constexpr const char* kUserDisabled = "user disabled";

// What a cut-off reaches; all of it outlives the calls.
struct CutOffTargets {
  storage::Store& store;
  storage::AuditLog& audit;
  RequestService* requests = nullptr;  // null: no request service (nothing to end)
  // Ends the live sessions of a user with a reason; returns how many (LiveSessions::
  // end_sessions_of). Empty when there is no SSH listener.
  std::function<std::size_t(const std::string& user, const std::string& reason)> end_sessions;
  // Check-outs: the user's open ones end and their accounts owe a rotation; null: none.
  CheckoutService* checkouts = nullptr;
};

struct CutOffCounts {
  int tokens = 0;
  std::size_t sessions = 0;
  int requests = 0;
  int checkouts = 0;
  bool any() const { return tokens > 0 || sessions > 0 || requests > 0 || checkouts > 0; }
};

// Revokes the user's API tokens, ends their live sessions, their open check-outs (each account
// owes a rotation for "user disabled"), then their open requests (pending and approved ones
// cancelled, active ones closed), all with reason kUserDisabled and audited by `actor`. Sessions
// end first so that each ends as "user disabled", not as "request closed"; check-outs before
// their requests, which is how they are found.
// Idempotent: a second call finds nothing left and returns zero counts. Any thread.
[[nodiscard]] Result<CutOffCounts> cut_off_user(const CutOffTargets& targets, std::int64_t user_id,
                                                const std::string& name, const std::string& actor);

}  // namespace sekisho::broker
