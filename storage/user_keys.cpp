#include "storage/user_keys.hpp"

namespace sekisho::storage {

Result<void> add_user_key(Store::Tx& tx, std::int64_t user_id, const UserKey& key) {
  auto owner = tx.prepare("SELECT user_id FROM ssh_keys WHERE fingerprint = ?");
  if (!owner) return tl::make_unexpected(owner.error());
  owner->bind(1, key.fingerprint);
  auto found = owner->step();
  if (!found) return tl::make_unexpected(found.error());
  if (*found) {
    if (owner->column_int(0) == user_id) {
      return fail(ErrorCode::kAlreadyExists,
                  "key " + key.fingerprint + " is already registered to you");
    }
    return fail(
        ErrorCode::kPermissionDenied,
        "key " + key.fingerprint + " is registered to another user; a key identifies one person");
  }
  auto insert = tx.prepare(
      "INSERT INTO ssh_keys (user_id, fingerprint, public_key, comment, created_at) "
      "VALUES (?, ?, ?, ?, ?)");
  if (!insert) return tl::make_unexpected(insert.error());
  insert->bind(1, user_id)
      .bind(2, key.fingerprint)
      .bind(3, key.public_key)
      .bind(4, key.comment)
      .bind(5, key.created_at);
  return insert->run();
}

Result<std::vector<UserKey>> list_user_keys(Store::Tx& tx, std::int64_t user_id) {
  auto stmt = tx.prepare(
      "SELECT fingerprint, public_key, comment, created_at FROM ssh_keys WHERE user_id = ? "
      "ORDER BY id");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, user_id);
  std::vector<UserKey> keys;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return keys;
    keys.push_back(
        {stmt->column_text(0), stmt->column_text(1), stmt->column_text(2), stmt->column_text(3)});
  }
}

Result<void> remove_user_key(Store::Tx& tx, std::int64_t user_id, const std::string& fingerprint) {
  auto stmt = tx.prepare("DELETE FROM ssh_keys WHERE user_id = ? AND fingerprint = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, user_id).bind(2, fingerprint);
  if (auto r = stmt->run(); !r) return r;
  if (tx.changes() == 0) return fail(ErrorCode::kNotFound, "you have no key " + fingerprint);
  return ok();
}

}  // namespace sekisho::storage
