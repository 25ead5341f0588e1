// What a user holds in the gateway (tokens, live sessions, open requests) and the key that logs
// them in: the queries behind cutting off leavers and re-checking users against the directory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

// A user row seen from one of its keys or from something it holds.
struct AccessHolder {
  std::int64_t id = 0;
  std::string name;
  std::string source;  // "local" or "ldap"
  bool disabled = false;
};

// The owner of the registered SSH key `fingerprint`, disabled or not; nullopt when no user has it.
[[nodiscard]] Result<std::optional<AccessHolder>> find_key_owner(Store::Tx& tx,
                                                                 const std::string& fingerprint);

// Every user who holds an API token that is neither revoked nor expired at `now` (ISO text as the
// store writes it), a session row not yet ended, or a request that is pending, approved or
// active. Ordered by name; each user once.
[[nodiscard]] Result<std::vector<AccessHolder>> users_holding_access(Store::Tx& tx,
                                                                     const std::string& now);

// Revokes every token of the user not yet revoked; returns how many that was.
[[nodiscard]] Result<int> revoke_live_tokens(Store::Tx& tx, std::int64_t user_id);

// Drops from every unrevoked token of the user the roles not in `roles` (a token never gains a
// role this way: a new role needs a new login). Returns how many tokens changed.
[[nodiscard]] Result<int> restrict_token_roles(Store::Tx& tx, std::int64_t user_id,
                                               const std::vector<std::string>& roles);

}  // namespace sekisho::storage
