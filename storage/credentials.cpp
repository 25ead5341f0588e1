#include "storage/credentials.hpp"

#include "base/crypto.hpp"
#include "storage/hosts.hpp"

namespace sekisho::storage {

namespace {

// One row per account with its derived status and open check-out; the outer query filters on the
// derived columns. 'unknown' wins over 'pending': a marked account stays marked until a promote.
constexpr char kAccountRows[] = R"sql(
SELECT * FROM (
  SELECT a.id, h.name AS host, a.name AS account, h.host_group AS host_group, h.protocol,
         coalesce(c.kind, ''),
         CASE WHEN a.rotation_status = 'unknown' THEN 'unknown'
              WHEN p.id IS NOT NULL THEN 'pending' ELSE 'current' END AS status,
         a.rotate_every_seconds, a.last_rotated_at, a.last_error, a.rotation_due, a.created_at,
         coalesce(co.request_id, ''), coalesce(u.name, ''), coalesce(co.until, ''),
         h.retired_at IS NOT NULL AS retired, coalesce(c.fingerprint, '')
  FROM accounts a JOIN hosts h ON h.id = a.host_id
  LEFT JOIN credentials c ON c.account_id = a.id AND c.state = 'current'
  LEFT JOIN credentials p ON p.account_id = a.id AND p.state = 'pending'
  LEFT JOIN checkouts co ON co.account_id = a.id AND co.ended_at IS NULL
  LEFT JOIN users u ON u.id = co.user_id)
)sql";

AccountRow read_account_row(const Statement& s) {
  AccountRow r;
  r.id = s.column_int(0);
  r.host = s.column_text(1);
  r.account = s.column_text(2);
  r.host_group = s.column_text(3);
  r.protocol = s.column_text(4);
  r.kind = s.column_text(5);
  r.status = s.column_text(6);
  if (!s.column_is_null(7)) r.rotate_every_seconds = s.column_int(7);
  r.last_rotated_at = s.column_text(8);
  r.last_error = s.column_text(9);
  r.rotation_due = s.column_text(10);
  r.created_at = s.column_text(11);
  r.checkout_request = s.column_text(12);
  r.checkout_holder = s.column_text(13);
  r.checkout_until = s.column_text(14);
  r.host_retired = s.column_int(15) != 0;
  r.fingerprint = s.column_text(16);
  return r;
}

// The host of an account and the kind of its current credential; kNotFound when no account.
struct AccountBasics {
  std::int64_t host_id = 0;
  std::string kind;
};
Result<AccountBasics> account_basics(Store::Tx& tx, std::int64_t account_id) {
  auto stmt = tx.prepare(
      "SELECT a.host_id, coalesce(c.kind, '') FROM accounts a "
      "LEFT JOIN credentials c ON c.account_id = a.id AND c.state = 'current' WHERE a.id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, account_id);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return fail(ErrorCode::kNotFound, "no account " + std::to_string(account_id));
  return AccountBasics{stmt->column_int(0), stmt->column_text(1)};
}

// Runs an UPDATE of one account row (`sql` binds the account id last, as parameter `id_index`).
Result<void> update_account(Store::Tx& tx, const std::string& sql,
                            const std::vector<std::string>& texts, std::int64_t account_id) {
  auto stmt = tx.prepare(sql);
  if (!stmt) return tl::make_unexpected(stmt.error());
  int i = 1;
  for (const auto& t : texts) stmt->bind(i++, t);
  stmt->bind(i, account_id);
  if (auto r = stmt->run(); !r) return r;
  if (tx.changes() == 0) {
    return fail(ErrorCode::kNotFound, "no account " + std::to_string(account_id));
  }
  return ok();
}

Result<bool> has_pending(Store::Tx& tx, std::int64_t account_id) {
  auto stmt = tx.prepare("SELECT 1 FROM credentials WHERE account_id = ? AND state = 'pending'");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, account_id);
  return stmt->step();
}

}  // namespace

Result<std::optional<AccountRow>> find_account_row(Store::Tx& tx, const std::string& host,
                                                   const std::string& account) {
  auto stmt = tx.prepare(std::string(kAccountRows) + "WHERE host = ? AND account = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, host).bind(2, account);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::optional<AccountRow>();
  return std::optional<AccountRow>(read_account_row(*stmt));
}

Result<std::vector<AccountRow>> list_account_rows(Store::Tx& tx, const AccountFilter& filter) {
  auto stmt = tx.prepare(std::string(kAccountRows) +
                         "WHERE (?1 = '' OR host = ?1) AND (?2 = '' OR status = ?2) "
                         "AND (?3 = '' OR host_group = ?3) AND (?4 OR NOT retired) "
                         "ORDER BY host, account");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, filter.host)
      .bind(2, filter.status)
      .bind(3, filter.group)
      .bind(4, std::int64_t{filter.include_retired ? 1 : 0});
  std::vector<AccountRow> rows;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return rows;
    rows.push_back(read_account_row(*stmt));
  }
}

Result<CredentialVersions> load_versions(Store::Tx& tx, std::int64_t account_id) {
  auto basics = account_basics(tx, account_id);
  if (!basics) return tl::make_unexpected(basics.error());
  auto stmt = tx.prepare(
      "SELECT kind, state, secret FROM credentials "
      "WHERE account_id = ? AND state IN ('current', 'pending')");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, account_id);
  CredentialVersions v;
  v.kind = basics->kind;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return v;
    if (v.kind.empty()) v.kind = stmt->column_text(0);
    auto& slot = stmt->column_view(1) == "current" ? v.current : v.pending;
    slot = Secret::copy_of(stmt->column_blob(2));
  }
}

Result<void> store_pending(Store::Tx& tx, std::int64_t account_id, const Secret& secret,
                           const std::string& now) {
  auto basics = account_basics(tx, account_id);
  if (!basics) return tl::make_unexpected(basics.error());
  if (secret.empty()) return fail(ErrorCode::kInvalidArgument, "empty credential");
  if (basics->kind.empty()) {
    return fail(ErrorCode::kNotFound,
                "account " + std::to_string(account_id) + " has no current credential");
  }
  auto pending = has_pending(tx, account_id);
  if (!pending) return tl::make_unexpected(pending.error());
  if (*pending) {
    return fail(ErrorCode::kAlreadyExists,
                "a rotation of account " + std::to_string(account_id) + " is already pending");
  }
  if (basics->kind == "password") {
    if (auto r = check_password_unique(tx, basics->host_id, secret); !r) return r;
  }
  auto stmt = tx.prepare(
      "INSERT INTO credentials (account_id, kind, state, secret, fingerprint, created_at) "
      "VALUES (?, ?, 'pending', ?, ?, ?)");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, account_id)
      .bind(2, basics->kind)
      .bind_blob(3, secret.bytes())
      .bind(4, fingerprint8(secret.bytes()))
      .bind(5, now);
  return stmt->run();
}

Result<void> promote_pending(Store::Tx& tx, std::int64_t account_id, int keep_previous,
                             const std::string& now) {
  auto pending = has_pending(tx, account_id);
  if (!pending) return tl::make_unexpected(pending.error());
  if (!*pending) {
    return fail(ErrorCode::kNotFound,
                "nothing is pending for account " + std::to_string(account_id));
  }
  // Current first: the unique indexes allow one current and one pending at every step.
  for (const char* sql :
       {"UPDATE credentials SET state = 'previous' WHERE account_id = ?1 AND state = 'current'",
        "UPDATE credentials SET state = 'current' WHERE account_id = ?1 AND state = 'pending'",
        "DELETE FROM credentials WHERE account_id = ?1 AND state = 'previous' AND id NOT IN "
        "(SELECT id FROM credentials WHERE account_id = ?1 AND state = 'previous' "
        " ORDER BY id DESC LIMIT ?2)"}) {
    auto stmt = tx.prepare(sql);
    if (!stmt) return tl::make_unexpected(stmt.error());
    stmt->bind(1, account_id);
    if (std::string_view(sql).find("?2") != std::string_view::npos) {
      stmt->bind(2, std::int64_t{keep_previous < 0 ? 0 : keep_previous});
    }
    if (auto r = stmt->run(); !r) return r;
  }
  return update_account(tx,
                        "UPDATE accounts SET rotation_status = 'current', last_rotated_at = ?, "
                        "last_error = '', rotation_due = '' WHERE id = ?",
                        {now}, account_id);
}

Result<void> discard_pending(Store::Tx& tx, std::int64_t account_id) {
  if (auto basics = account_basics(tx, account_id); !basics) {
    return tl::make_unexpected(basics.error());
  }
  auto stmt = tx.prepare("DELETE FROM credentials WHERE account_id = ? AND state = 'pending'");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, account_id);
  return stmt->run();
}

Result<void> set_last_error(Store::Tx& tx, std::int64_t account_id, const std::string& error) {
  return update_account(tx, "UPDATE accounts SET last_error = ? WHERE id = ?", {error}, account_id);
}

Result<void> mark_unknown(Store::Tx& tx, std::int64_t account_id, const std::string& error) {
  return update_account(
      tx, "UPDATE accounts SET rotation_status = 'unknown', last_error = ? WHERE id = ?", {error},
      account_id);
}

Result<void> set_rotation_due(Store::Tx& tx, std::int64_t account_id, const std::string& reason) {
  return update_account(tx, "UPDATE accounts SET rotation_due = ? WHERE id = ?", {reason},
                        account_id);
}

}  // namespace sekisho::storage
