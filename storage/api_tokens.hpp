// API bearer tokens: only their SHA-256 is stored; the token itself exists in the client only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/crypto.hpp"
#include "base/result.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

// What a token may do: everything its roles allow, or only enrol TOTP (issued at a login whose
// role requires TOTP before anything else, while the user has none).
enum class TokenScope { kFull, kTotpEnrollment };

// The scope's name in the store and in the API ("full", "totp_enrollment").
const char* scope_name(TokenScope scope);

struct TokenRecord {
  std::int64_t user_id = 0;
  std::string user_name;
  std::string user_source;
  std::vector<std::string> roles;  // as granted at login
  TokenScope scope = TokenScope::kFull;
  std::string expires_at;
  bool revoked = false;
  bool user_disabled = false;
};

// Stores a token's hash with its roles and scope; the scope never changes afterwards.
[[nodiscard]] Result<void> insert_token(Store::Tx& tx, const Digest& token_hash,
                                        std::int64_t user_id, const std::vector<std::string>& roles,
                                        TokenScope scope, const std::string& source,
                                        const std::string& created_at,
                                        const std::string& expires_at);
[[nodiscard]] Result<std::optional<TokenRecord>> find_token(Store::Tx& tx,
                                                            const Digest& token_hash);
[[nodiscard]] Result<void> revoke_token(Store::Tx& tx, const Digest& token_hash);
// Revokes every token of a user (disable, password change).
[[nodiscard]] Result<void> revoke_user_tokens(Store::Tx& tx, std::int64_t user_id);

}  // namespace sekisho::storage
