#include "storage/vault.hpp"

namespace sekisho::storage {

Result<VaultedCredential> current_credential(Store::Tx& tx, const std::string& account,
                                             const std::string& host) {
  auto stmt = tx.prepare(
      "SELECT c.kind, c.secret FROM credentials c "
      "JOIN accounts a ON a.id = c.account_id JOIN hosts h ON h.id = a.host_id "
      "WHERE h.name = ? AND a.name = ? AND c.state = 'current'");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, host).bind(2, account);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) {
    return fail(ErrorCode::kNotFound, "no current credential for " + account + "@" + host);
  }
  VaultedCredential c{stmt->column_text(0), Secret::copy_of(stmt->column_blob(1))};
  if (c.secret.empty()) {
    return fail(ErrorCode::kCorrupt, "empty credential for " + account + "@" + host);
  }
  return c;
}

}  // namespace sekisho::storage
