// Check-outs (DESIGN.md "Password rotation", check-out mode): which request holds the password of
// which account, from when until when, and how the check-out ended. At most one open check-out
// per account (a unique index enforces it, so two concurrent check-outs cannot both succeed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

struct CheckoutRow {
  std::int64_t id = 0;
  std::string request_id;
  std::int64_t account_id = 0;
  std::int64_t user_id = 0;
  std::string user_name;
  std::string started_at;
  std::string until;       // the end of the request's window
  std::string ended_at;    // "" while open
  std::string end_reason;  // "checkin", "window end", "user disabled", …
};

// Opens a check-out for `request_id`. When the same request already holds it, returns that one
// (showing the password again is allowed within the window). kAlreadyExists "ACCOUNT@HOST is
// checked out by USER until TIME" when another request holds the account; kInvalidArgument when
// this request's check-out has already ended (a request is checked out once).
[[nodiscard]] Result<CheckoutRow> open_checkout(Store::Tx& tx, const std::string& request_id,
                                                std::int64_t account_id, std::int64_t user_id,
                                                const std::string& started_at,
                                                const std::string& until);
[[nodiscard]] Result<std::optional<CheckoutRow>> find_checkout(Store::Tx& tx,
                                                               const std::string& request_id);
[[nodiscard]] Result<std::optional<CheckoutRow>> open_checkout_of_account(Store::Tx& tx,
                                                                          std::int64_t account_id);
// Ends the open check-out of `request_id`; false when none is open.
[[nodiscard]] Result<bool> end_checkout(Store::Tx& tx, const std::string& request_id,
                                        const std::string& reason, const std::string& now);
// Open check-outs whose window ended at or before `now` (ISO 8601 UTC compares as text).
[[nodiscard]] Result<std::vector<CheckoutRow>> checkouts_past_window(Store::Tx& tx,
                                                                     const std::string& now);
// Every account `user_id` ever checked out (for `rotate --seen-by`), without repeats.
[[nodiscard]] Result<std::vector<std::int64_t>> accounts_seen_by(Store::Tx& tx,
                                                                 std::int64_t user_id);

}  // namespace sekisho::storage
