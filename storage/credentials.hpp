// The rotation state of vaulted accounts (DESIGN.md "Password rotation"): the versions of an
// account's credential (current, pending, previous), its rotation status, last rotation, last
// error and whether a rotation is owed (after a check-in, the end of a check-out window, a
// `rotate --seen-by`). The engine's vault port (broker/rotation) is built on these; each call runs
// in the caller's transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

// One managed account as `accounts list` and the rotation scheduler see it.
struct AccountRow {
  std::int64_t id = 0;
  std::string host;
  std::string account;
  std::string host_group;
  std::string protocol;  // the host's: "ssh", "rdp", "ldap"
  std::string kind;      // the current credential's: "password" or "key"
  // "current" (nothing in doubt), "pending" (a rotation in doubt: a pending version exists) or
  // "unknown" (marked: neither version logs in). "manual" is decided by the broker (no connector).
  std::string status;
  std::optional<std::int64_t> rotate_every_seconds;
  std::string last_rotated_at;  // "" never rotated (the vaulting time counts as the start)
  std::string last_error;       // "" none since the last successful rotation
  std::string rotation_due;     // why a rotation is owed now ("checkin", "window end", "seen-by
                                // USER", "requested by USER"); "" none
  std::string created_at;
  // The open check-out of the account, if any.
  std::string checkout_request;
  std::string checkout_holder;  // user name
  std::string checkout_until;
  bool host_retired = false;  // the host was retired (hosts remove with history)
  // fingerprint8 of the current credential (the first 8 hex of its SHA-256); "" without one.
  std::string fingerprint;
};

struct AccountFilter {
  std::string host;    // "" any
  std::string status;  // "" any; "current", "pending", "unknown"
  std::string group;   // "" any
  // Accounts of retired hosts are history, not rotated nor lent: left out unless asked for.
  bool include_retired = false;
};

[[nodiscard]] Result<std::optional<AccountRow>> find_account_row(Store::Tx& tx,
                                                                 const std::string& host,
                                                                 const std::string& account);
// By host, then account.
[[nodiscard]] Result<std::vector<AccountRow>> list_account_rows(Store::Tx& tx,
                                                                const AccountFilter& filter);

// The current and pending versions; kNotFound for no such account.
struct CredentialVersions {
  std::string kind;
  std::optional<Secret> current;
  std::optional<Secret> pending;
};
[[nodiscard]] Result<CredentialVersions> load_versions(Store::Tx& tx, std::int64_t account_id);

// Stores `secret` as the account's pending version (same kind as the current one). kAlreadyExists
// when one is pending; kInvalidArgument when it is a password current or pending for an account of
// another host (the uniqueness rule of add_account, check_password_unique) or empty; kNotFound
// for no such account or one without a current credential.
[[nodiscard]] Result<void> store_pending(Store::Tx& tx, std::int64_t account_id,
                                         const Secret& secret, const std::string& now);
// pending → current and the old current → previous, keeping the newest `keep_previous` previous
// versions (older ones are deleted); records `now` as the last rotation, clears the status
// ("current"), the last error and the owed rotation. kNotFound when nothing is pending.
[[nodiscard]] Result<void> promote_pending(Store::Tx& tx, std::int64_t account_id,
                                           int keep_previous, const std::string& now);
// Deletes the pending version, if any (the host kept the current one); the status goes back to
// "current" unless the account is marked unknown. kNotFound for no such account.
[[nodiscard]] Result<void> discard_pending(Store::Tx& tx, std::int64_t account_id);
// The last error of a rotation (one line, no secret); "" clears it. This and the two below:
// kNotFound for no such account.
[[nodiscard]] Result<void> set_last_error(Store::Tx& tx, std::int64_t account_id,
                                          const std::string& error);
// Marks the account unknown (neither version logs in) with `error`, until a promote clears it.
[[nodiscard]] Result<void> mark_unknown(Store::Tx& tx, std::int64_t account_id,
                                        const std::string& error);
// Owes the account a rotation for `reason` ("" clears it); the owed rotation survives restarts.
[[nodiscard]] Result<void> set_rotation_due(Store::Tx& tx, std::int64_t account_id,
                                            const std::string& reason);

}  // namespace sekisho::storage
