// Local gateway users as rows of the store (the embedded directory).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

struct NewUser {
  std::string name;
  std::string password_hash;  // crypt(3) string; never the password
  std::vector<std::string> roles;
  bool must_change_password = false;
  std::string created_at;
};

// Checks a user name: 1-64 characters of [A-Za-z0-9._-], not starting with '-' or '.'.
[[nodiscard]] Result<void> check_user_name(const std::string& name);

// Inserts a local user and its roles inside `tx`; refuses a taken name or an unknown role.
[[nodiscard]] Result<std::int64_t> create_user(Store::Tx& tx, const NewUser& user);

// A user row as stored (local users, and the shadow rows of directory users seen at login).
struct UserRecord {
  std::int64_t id = 0;
  std::string name;
  std::string source;  // "local" or "ldap"
  std::string password_hash;
  bool must_change_password = false;
  bool disabled = false;
  bool totp_enrolled = false;
  std::vector<std::string> roles;
  std::string created_at;
};

// The user called `name`, or nullopt.
[[nodiscard]] Result<std::optional<UserRecord>> find_user(Store::Tx& tx, const std::string& name);
// All users ordered by name.
[[nodiscard]] Result<std::vector<UserRecord>> list_users(Store::Tx& tx);
// Replaces the password hash and clears or sets the must-change flag.
[[nodiscard]] Result<void> set_password_hash(Store::Tx& tx, std::int64_t user_id,
                                             const std::string& hash, bool must_change);
[[nodiscard]] Result<void> set_disabled(Store::Tx& tx, std::int64_t user_id, bool disabled);
// Returns the id of the shadow row of a directory user, creating it on first sight.
[[nodiscard]] Result<std::int64_t> ensure_directory_user(Store::Tx& tx, const std::string& name,
                                                         const std::string& created_at);

// TOTP: a new secret waits in totp_pending until the user proves they hold it (confirm); only
// then does login require codes.
[[nodiscard]] Result<void> set_totp_pending(Store::Tx& tx, std::int64_t user_id,
                                            const Secret& secret);
// Moves the pending secret into place; kNotFound when there is none.
[[nodiscard]] Result<void> confirm_totp(Store::Tx& tx, std::int64_t user_id);
// The confirmed (pending = false) or pending secret of a user, if any.
[[nodiscard]] Result<std::optional<Secret>> totp_secret(Store::Tx& tx, std::int64_t user_id,
                                                        bool pending);

}  // namespace sekisho::storage
