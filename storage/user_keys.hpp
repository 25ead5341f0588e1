// SSH public keys that users register for gateway logins.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

struct UserKey {
  std::string fingerprint;  // SHA256:… as OpenSSH prints it; unique across all users
  std::string public_key;   // "type base64 comment"
  std::string comment;
  std::string created_at;
};

// Adds a key to a user. kAlreadyExists when the user has it already; kPermissionDenied when
// another user has it (without saying who).
[[nodiscard]] Result<void> add_user_key(Store::Tx& tx, std::int64_t user_id, const UserKey& key);
[[nodiscard]] Result<std::vector<UserKey>> list_user_keys(Store::Tx& tx, std::int64_t user_id);
// Removes one of the user's own keys; kNotFound when the user has no such key.
[[nodiscard]] Result<void> remove_user_key(Store::Tx& tx, std::int64_t user_id,
                                           const std::string& fingerprint);

}  // namespace sekisho::storage
