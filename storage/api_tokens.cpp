#include "storage/api_tokens.hpp"

#include <nlohmann/json.hpp>

namespace sekisho::storage {

const char* scope_name(TokenScope scope) {
  return scope == TokenScope::kTotpEnrollment ? "totp_enrollment" : "full";
}

Result<void> insert_token(Store::Tx& tx, const Digest& token_hash, std::int64_t user_id,
                          const std::vector<std::string>& roles, TokenScope scope,
                          const std::string& source, const std::string& created_at,
                          const std::string& expires_at) {
  auto stmt = tx.prepare(
      "INSERT INTO api_tokens (token_hash, user_id, roles, scope, source, created_at, expires_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind_blob(1, token_hash)
      .bind(2, user_id)
      .bind(3, nlohmann::json(roles).dump())
      .bind(4, std::string_view(scope_name(scope)))
      .bind(5, source)
      .bind(6, created_at)
      .bind(7, expires_at);
  return stmt->run();
}

Result<std::optional<TokenRecord>> find_token(Store::Tx& tx, const Digest& token_hash) {
  auto stmt = tx.prepare(
      "SELECT t.user_id, u.name, u.source, t.roles, t.expires_at, t.revoked, u.disabled, t.scope "
      "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind_blob(1, token_hash);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::optional<TokenRecord>();
  TokenRecord t;
  t.user_id = stmt->column_int(0);
  t.user_name = stmt->column_text(1);
  t.user_source = stmt->column_text(2);
  const auto roles = nlohmann::json::parse(stmt->column_text(3), nullptr, false);
  if (roles.is_array()) {
    for (const auto& r : roles) {
      if (r.is_string()) t.roles.push_back(r.get<std::string>());
    }
  }
  t.expires_at = stmt->column_text(4);
  t.revoked = stmt->column_int(5) != 0;
  t.user_disabled = stmt->column_int(6) != 0;
  // Anything but "full" (the schema allows no other value) is read as the narrower scope.
  t.scope = stmt->column_text(7) == "full" ? TokenScope::kFull : TokenScope::kTotpEnrollment;
  return std::optional<TokenRecord>(std::move(t));
}

Result<void> revoke_token(Store::Tx& tx, const Digest& token_hash) {
  auto stmt = tx.prepare("UPDATE api_tokens SET revoked = 1 WHERE token_hash = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind_blob(1, token_hash);
  return stmt->run();
}

Result<void> revoke_user_tokens(Store::Tx& tx, std::int64_t user_id) {
  auto stmt = tx.prepare("UPDATE api_tokens SET revoked = 1 WHERE user_id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, user_id);
  return stmt->run();
}

}  // namespace sekisho::storage
