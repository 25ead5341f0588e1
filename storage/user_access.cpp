#include "storage/user_access.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace sekisho::storage {

namespace {

AccessHolder holder_at(const Statement& stmt) {
  return {stmt.column_int(0), stmt.column_text(1), stmt.column_text(2), stmt.column_int(3) != 0};
}

}  // namespace

Result<std::optional<AccessHolder>> find_key_owner(Store::Tx& tx, const std::string& fingerprint) {
  auto stmt = tx.prepare(
      "SELECT u.id, u.name, u.source, u.disabled FROM ssh_keys k JOIN users u ON u.id = k.user_id "
      "WHERE k.fingerprint = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, fingerprint);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::optional<AccessHolder>();
  return std::optional<AccessHolder>(holder_at(*stmt));
}

Result<std::vector<AccessHolder>> users_holding_access(Store::Tx& tx, const std::string& now) {
  auto stmt = tx.prepare(
      "SELECT u.id, u.name, u.source, u.disabled FROM users u WHERE "
      "EXISTS (SELECT 1 FROM api_tokens t WHERE t.user_id = u.id AND t.revoked = 0 "
      "        AND t.expires_at > ?) "
      "OR EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id "
      "           AND (s.ended_at IS NULL OR s.ended_at = '')) "
      "OR EXISTS (SELECT 1 FROM requests r WHERE r.requester_id = u.id "
      "           AND r.state IN ('pending', 'approved', 'active')) "
      "ORDER BY u.name");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, now);
  std::vector<AccessHolder> out;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) break;
    out.push_back(holder_at(*stmt));
  }
  return out;
}

Result<int> revoke_live_tokens(Store::Tx& tx, std::int64_t user_id) {
  auto count = tx.prepare("SELECT count(*) FROM api_tokens WHERE user_id = ? AND revoked = 0");
  if (!count) return tl::make_unexpected(count.error());
  count->bind(1, user_id);
  auto row = count->step();
  if (!row) return tl::make_unexpected(row.error());
  const auto live = *row ? static_cast<int>(count->column_int(0)) : 0;
  if (live == 0) return 0;
  auto stmt = tx.prepare("UPDATE api_tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, user_id);
  if (auto r = stmt->run(); !r) return tl::make_unexpected(r.error());
  return live;
}

Result<int> restrict_token_roles(Store::Tx& tx, std::int64_t user_id,
                                 const std::vector<std::string>& roles) {
  auto stmt =
      tx.prepare("SELECT token_hash, roles FROM api_tokens WHERE user_id = ? AND revoked = 0");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, user_id);
  std::vector<std::pair<std::vector<std::uint8_t>, std::string>> changes;  // (hash, new roles)
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) break;
    const auto held = nlohmann::json::parse(stmt->column_text(1), nullptr, false);
    if (!held.is_array()) continue;
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& r : held) {
      const bool still_held = r.is_string() && std::find(roles.begin(), roles.end(),
                                                         r.get<std::string>()) != roles.end();
      if (still_held) kept.push_back(r);
    }
    if (kept.size() != held.size()) {
      const auto hash = stmt->column_blob(0);
      changes.emplace_back(std::vector<std::uint8_t>(hash.begin(), hash.end()), kept.dump());
    }
  }
  for (const auto& [hash, kept] : changes) {
    auto update = tx.prepare("UPDATE api_tokens SET roles = ? WHERE token_hash = ?");
    if (!update) return tl::make_unexpected(update.error());
    update->bind(1, kept).bind_blob(2, hash);
    if (auto r = update->run(); !r) return tl::make_unexpected(r.error());
  }
  return static_cast<int>(changes.size());
}

}  // namespace sekisho::storage
