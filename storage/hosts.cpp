#include "storage/hosts.hpp"

#include <openssl/crypto.h>

#include "base/crypto.hpp"

namespace sekisho::storage {

namespace {

HostRecord read_host(const Statement& s) {
  HostRecord h;
  h.id = s.column_int(0);
  h.name = s.column_text(1);
  h.address = s.column_text(2);
  h.port = static_cast<int>(s.column_int(3));
  h.protocol = s.column_text(4);
  h.group = s.column_text(5);
  h.host_key = s.column_text(6);
  h.host_key_fingerprint = s.column_text(7);
  h.created_at = s.column_text(8);
  h.retired_at = s.column_text(9);
  return h;
}

constexpr char kHostColumns[] =
    "SELECT id, name, address, port, protocol, host_group, coalesce(host_key, ''), "
    "coalesce(host_key_fingerprint, ''), created_at, coalesce(retired_at, '') FROM hosts ";

// True when `secret` is the current or pending password of an account on a host other than
// `host_id`.
Result<bool> password_used_elsewhere(Store::Tx& tx, std::int64_t host_id, const Secret& secret) {
  auto stmt = tx.prepare(
      "SELECT c.secret FROM credentials c JOIN accounts a ON a.id = c.account_id "
      "WHERE c.kind = 'password' AND c.state IN ('current', 'pending') AND a.host_id != ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, host_id);
  bool used = false;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return used;
    const auto other = stmt->column_blob(0);
    used |= other.size() == secret.size() &&
            CRYPTO_memcmp(other.data(), secret.data(), secret.size()) == 0;
  }
}

}  // namespace

Result<std::int64_t> insert_host(Store::Tx& tx, const HostRecord& host) {
  auto existing = find_host(tx, host.name);
  if (!existing) return tl::make_unexpected(existing.error());
  if (existing->has_value())
    return fail(ErrorCode::kAlreadyExists, "host " + host.name + " exists");
  auto stmt = tx.prepare(
      "INSERT INTO hosts (name, address, port, protocol, host_group, host_key, "
      "host_key_fingerprint, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, host.name)
      .bind(2, host.address)
      .bind(3, static_cast<std::int64_t>(host.port))
      .bind(4, host.protocol)
      .bind(5, host.group)
      .bind(6, host.host_key)
      .bind(7, host.host_key_fingerprint)
      .bind(8, host.created_at);
  if (host.host_key.empty()) stmt->bind_null(6).bind_null(7);
  if (auto r = stmt->run(); !r) return tl::make_unexpected(r.error());
  return tx.last_insert_id();
}

Result<std::optional<HostRecord>> find_host(Store::Tx& tx, const std::string& name) {
  auto stmt = tx.prepare(std::string(kHostColumns) + "WHERE name = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, name);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::optional<HostRecord>();
  return std::optional<HostRecord>(read_host(*stmt));
}

Result<std::vector<HostRecord>> list_hosts(Store::Tx& tx) {
  auto stmt = tx.prepare(std::string(kHostColumns) + "ORDER BY name");
  if (!stmt) return tl::make_unexpected(stmt.error());
  std::vector<HostRecord> hosts;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return hosts;
    hosts.push_back(read_host(*stmt));
  }
}

namespace {

// How many requests and sessions name an account of the host: history that must be kept.
Result<std::pair<std::int64_t, std::int64_t>> host_history(Store::Tx& tx, const std::string& name) {
  auto used = tx.prepare(
      "SELECT (SELECT count(*) FROM requests r JOIN accounts a ON a.id = r.account_id "
      "        JOIN hosts h ON h.id = a.host_id WHERE h.name = ?1), "
      "       (SELECT count(*) FROM sessions s JOIN accounts a ON a.id = s.account_id "
      "        JOIN hosts h ON h.id = a.host_id WHERE h.name = ?1)");
  if (!used) return tl::make_unexpected(used.error());
  used->bind(1, name);
  auto row = used->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::pair<std::int64_t, std::int64_t>{0, 0};
  return std::pair{used->column_int(0), used->column_int(1)};
}

}  // namespace

Result<bool> host_has_history(Store::Tx& tx, const std::string& name) {
  auto history = host_history(tx, name);
  if (!history) return tl::make_unexpected(history.error());
  return history->first > 0 || history->second > 0;
}

Result<void> remove_host(Store::Tx& tx, const std::string& name) {
  // Requests and sessions keep the history of who had which account on the host: the audit trail
  // must not lose its subjects, so such a host stays (retire_host).
  auto history = host_history(tx, name);
  if (!history) return tl::make_unexpected(history.error());
  if (history->first > 0 || history->second > 0) {
    return fail(ErrorCode::kAlreadyExists,
                "host " + name + " has " + std::to_string(history->first) + " request(s) and " +
                    std::to_string(history->second) +
                    " session(s) on record; it is kept for their history");
  }
  auto stmt = tx.prepare("DELETE FROM hosts WHERE name = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, name);
  if (auto r = stmt->run(); !r) return r;
  if (tx.changes() == 0) return fail(ErrorCode::kNotFound, "no host " + name);
  return ok();
}

Result<void> retire_host(Store::Tx& tx, const std::string& name, const std::string& now) {
  auto host = find_host(tx, name);
  if (!host) return tl::make_unexpected(host.error());
  if (!host->has_value()) return fail(ErrorCode::kNotFound, "no host " + name);
  if (!(*host)->retired_at.empty()) {
    return fail(ErrorCode::kAlreadyExists, "host " + name + " is already retired");
  }
  auto stmt = tx.prepare("UPDATE hosts SET retired_at = ? WHERE name = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, now).bind(2, name);
  return stmt->run();
}

Result<void> repin_host_key(Store::Tx& tx, const std::string& name, const std::string& key_line,
                            const std::string& fingerprint) {
  if (key_line.empty() || fingerprint.empty()) {
    return fail(ErrorCode::kInvalidArgument, "a host key and its fingerprint are needed to pin");
  }
  auto stmt = tx.prepare("UPDATE hosts SET host_key = ?, host_key_fingerprint = ? WHERE name = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, key_line).bind(2, fingerprint).bind(3, name);
  if (auto r = stmt->run(); !r) return r;
  if (tx.changes() == 0) return fail(ErrorCode::kNotFound, "no host " + name);
  return ok();
}

Result<std::vector<AccountRecord>> list_accounts(Store::Tx& tx, std::int64_t host_id) {
  auto stmt = tx.prepare(
      "SELECT a.id, a.name, coalesce(c.kind, ''), a.rotate_every_seconds, a.created_at "
      "FROM accounts a LEFT JOIN credentials c ON c.account_id = a.id AND c.state = 'current' "
      "WHERE a.host_id = ? ORDER BY a.name");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, host_id);
  std::vector<AccountRecord> accounts;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return accounts;
    AccountRecord a;
    a.id = stmt->column_int(0);
    a.name = stmt->column_text(1);
    a.kind = stmt->column_text(2);
    if (!stmt->column_is_null(3)) a.rotate_every_seconds = stmt->column_int(3);
    a.created_at = stmt->column_text(4);
    accounts.push_back(std::move(a));
  }
}

Result<void> check_password_unique(Store::Tx& tx, std::int64_t host_id, const Secret& secret) {
  auto used = password_used_elsewhere(tx, host_id, secret);
  if (!used) return tl::make_unexpected(used.error());
  if (*used) {
    return fail(ErrorCode::kInvalidArgument,
                "this password is already vaulted for another host; every host must have its own");
  }
  return ok();
}

Result<std::int64_t> add_account(Store::Tx& tx, std::int64_t host_id, const std::string& name,
                                 const std::string& kind, const Secret& secret,
                                 std::optional<std::int64_t> rotate_every_seconds,
                                 const std::string& created_at) {
  if (auto r = check_account_name(name); !r) return tl::make_unexpected(r.error());
  if (secret.empty()) return fail(ErrorCode::kInvalidArgument, "empty credential");
  if (kind == "password") {
    if (auto r = check_password_unique(tx, host_id, secret); !r)
      return tl::make_unexpected(r.error());
  }
  auto account = tx.prepare(
      "INSERT INTO accounts (host_id, name, rotate_every_seconds, created_at) VALUES (?, ?, ?, ?)");
  if (!account) return tl::make_unexpected(account.error());
  account->bind(1, host_id).bind(2, name).bind(4, created_at);
  if (rotate_every_seconds) {
    account->bind(3, *rotate_every_seconds);
  } else {
    account->bind_null(3);
  }
  if (auto r = account->run(); !r) {
    return fail(ErrorCode::kAlreadyExists, "account " + name + " already exists on that host");
  }
  const std::int64_t account_id = tx.last_insert_id();
  auto credential = tx.prepare(
      "INSERT INTO credentials (account_id, kind, state, secret, fingerprint, created_at) "
      "VALUES (?, ?, 'current', ?, ?, ?)");
  if (!credential) return tl::make_unexpected(credential.error());
  credential->bind(1, account_id)
      .bind(2, kind)
      .bind_blob(3, secret.bytes())
      .bind(4, fingerprint8(secret.bytes()))
      .bind(5, created_at);
  if (auto r = credential->run(); !r) return tl::make_unexpected(r.error());
  return account_id;
}

}  // namespace sekisho::storage
