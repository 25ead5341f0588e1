#include "storage/sessions.hpp"

#include <array>

#include "base/crypto.hpp"

namespace sekisho::storage {

namespace {

constexpr char kRecordingKeySetting[] = "recording_key";

constexpr char kSessionColumns[] =
    "SELECT s.id, coalesce(s.request_id, ''), u.name, a.name, h.name, s.protocol, s.started_at, "
    "coalesce(s.ended_at, ''), coalesce(s.end_reason, ''), coalesce(s.recording_path, ''), "
    "coalesce(s.recording_hash, ''), coalesce(s.recording_size, 0), coalesce(s.duration_us, 0), "
    "coalesce(s.recording_deleted_at, ''), s.recording_sealed "
    "FROM sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = s.account_id "
    "JOIN hosts h ON h.id = a.host_id ";

SessionRecord read_session(const Statement& s) {
  SessionRecord r;
  r.id = s.column_text(0);
  r.request_id = s.column_text(1);
  r.user = s.column_text(2);
  r.account = s.column_text(3);
  r.host = s.column_text(4);
  r.protocol = s.column_text(5);
  r.started_at = s.column_text(6);
  r.ended_at = s.column_text(7);
  r.end_reason = s.column_text(8);
  r.recording_path = s.column_text(9);
  r.recording_hash = s.column_text(10);
  r.recording_size = static_cast<std::uint64_t>(s.column_int(11));
  r.duration_us = s.column_int(12);
  r.recording_deleted_at = s.column_text(13);
  r.recording_sealed = s.column_int(14) != 0;
  return r;
}

// Every row `s` yields, in its order.
Result<std::vector<SessionRecord>> read_sessions(Statement& s) {
  std::vector<SessionRecord> out;
  for (;;) {
    auto row = s.step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return out;
    out.push_back(read_session(s));
  }
}

Result<bool> exists(Store::Tx& tx, const char* sql, const std::string& key) {
  auto stmt = tx.prepare(sql);
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, key);
  return stmt->step();
}

}  // namespace

Result<void> check_session_id(const std::string& id) {
  bool good = !id.empty() && id.size() <= 64;
  for (char c : id) {
    good = good &&
           ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (!good) {
    return fail(ErrorCode::kInvalidArgument,
                "session id must be 1-64 characters of letters, digits or '-'");
  }
  return ok();
}

std::string new_session_id() {
  std::array<std::uint8_t, 8> bytes{};
  random_fill(bytes);
  return hex_encode(bytes);
}

std::string SessionRecord::state() const {
  if (ended_at.empty()) return "open";
  return recording_hash.empty() || recording_sealed ? "incomplete" : "closed";
}

Result<SessionTarget> resolve_session_target(Store::Tx& tx, const std::string& user,
                                             const std::string& account, const std::string& host) {
  SessionTarget t;
  auto u = tx.prepare("SELECT id, disabled FROM users WHERE name = ?");
  if (!u) return tl::make_unexpected(u.error());
  u->bind(1, user);
  auto row = u->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return fail(ErrorCode::kNotFound, "no user " + user);
  if (u->column_int(1) != 0)
    return fail(ErrorCode::kPermissionDenied, "user " + user + " is disabled");
  t.user_id = u->column_int(0);

  auto a = tx.prepare(
      "SELECT a.id, h.protocol, h.retired_at IS NOT NULL FROM accounts a "
      "JOIN hosts h ON h.id = a.host_id WHERE h.name = ? AND a.name = ?");
  if (!a) return tl::make_unexpected(a.error());
  a->bind(1, host).bind(2, account);
  row = a->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) {
    auto h = exists(tx, "SELECT 1 FROM hosts WHERE name = ?", host);
    if (!h) return tl::make_unexpected(h.error());
    if (!*h) return fail(ErrorCode::kNotFound, "no host " + host);
    return fail(ErrorCode::kNotFound, "no account " + account + "@" + host);
  }
  if (a->column_int(2) != 0) {
    return fail(ErrorCode::kPermissionDenied, "host " + host + " is retired");
  }
  t.account_id = a->column_int(0);
  t.protocol = a->column_text(1);
  t.user = user;
  t.account = account;
  t.host = host;
  return t;
}

Result<void> insert_session(Store::Tx& tx, const NewSession& s) {
  if (auto r = check_session_id(s.id); !r) return r;
  auto taken = exists(tx, "SELECT 1 FROM sessions WHERE id = ?", s.id);
  if (!taken) return tl::make_unexpected(taken.error());
  if (*taken) return fail(ErrorCode::kAlreadyExists, "session " + s.id + " exists");
  if (s.request_id) {
    auto known = exists(tx, "SELECT 1 FROM requests WHERE id = ?", *s.request_id);
    if (!known) return tl::make_unexpected(known.error());
    if (!*known) return fail(ErrorCode::kNotFound, "no request " + *s.request_id);
  }
  auto stmt = tx.prepare(
      "INSERT INTO sessions (id, request_id, user_id, account_id, protocol, started_at, "
      "recording_path) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, s.id)
      .bind(3, s.target.user_id)
      .bind(4, s.target.account_id)
      .bind(5, s.target.protocol)
      .bind(6, s.started_at)
      .bind(7, s.recording_path);
  if (s.request_id) {
    stmt->bind(2, *s.request_id);
  } else {
    stmt->bind_null(2);
  }
  return stmt->run();
}

Result<void> finish_session(Store::Tx& tx, const std::string& id, const SessionEnd& end) {
  auto found = find_session(tx, id);
  if (!found) return tl::make_unexpected(found.error());
  if (!found->has_value()) return fail(ErrorCode::kNotFound, "no session " + id);
  if (!(*found)->ended_at.empty()) {
    return fail(ErrorCode::kAlreadyExists, "session " + id + " has already ended");
  }
  auto stmt = tx.prepare(
      "UPDATE sessions SET ended_at = ?, end_reason = ?, recording_hash = ?, recording_size = ?, "
      "duration_us = ?, recording_sealed = ? WHERE id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, end.ended_at)
      .bind(2, end.end_reason)
      .bind(3, end.recording_hash)
      .bind(4, static_cast<std::int64_t>(end.recording_size))
      .bind(5, end.duration_us)
      .bind(6, static_cast<std::int64_t>(end.recording_sealed ? 1 : 0))
      .bind(7, id);
  if (end.recording_hash.empty()) stmt->bind_null(3);
  return stmt->run();
}

Result<std::vector<SessionRecord>> list_sessions(Store::Tx& tx, const SessionFilter& filter) {
  std::string sql = std::string(kSessionColumns) + "WHERE 1 = 1";
  if (filter.user) sql += " AND u.name = ?";
  if (filter.host) sql += " AND h.name = ?";
  if (filter.since) sql += " AND s.started_at >= ?";
  sql += " ORDER BY s.started_at DESC, s.id LIMIT ?";
  auto stmt = tx.prepare(sql);
  if (!stmt) return tl::make_unexpected(stmt.error());
  int i = 1;
  if (filter.user) stmt->bind(i++, *filter.user);
  if (filter.host) stmt->bind(i++, *filter.host);
  if (filter.since) stmt->bind(i++, *filter.since);
  stmt->bind(i, static_cast<std::int64_t>(filter.limit));
  return read_sessions(*stmt);
}

Result<std::vector<SessionRecord>> open_sessions(Store::Tx& tx) {
  auto stmt = tx.prepare(std::string(kSessionColumns) +
                         "WHERE s.ended_at IS NULL ORDER BY s.started_at, s.id");
  if (!stmt) return tl::make_unexpected(stmt.error());
  return read_sessions(*stmt);
}

Result<std::optional<SessionRecord>> find_session(Store::Tx& tx, const std::string& id) {
  auto stmt = tx.prepare(std::string(kSessionColumns) + "WHERE s.id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, id);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::optional<SessionRecord>();
  return std::optional<SessionRecord>(read_session(*stmt));
}

Result<std::vector<SessionRecord>> expired_recordings(Store::Tx& tx,
                                                      const std::string& ended_before,
                                                      std::size_t limit) {
  auto stmt = tx.prepare(std::string(kSessionColumns) +
                         "WHERE s.ended_at IS NOT NULL AND s.ended_at < ? "
                         "AND s.recording_deleted_at IS NULL ORDER BY s.ended_at, s.id LIMIT ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, ended_before);
  stmt->bind(2, static_cast<std::int64_t>(limit));
  return read_sessions(*stmt);
}

Result<void> mark_recording_deleted(Store::Tx& tx, const std::string& id,
                                    const std::string& deleted_at) {
  auto stmt = tx.prepare(
      "UPDATE sessions SET recording_deleted_at = ? "
      "WHERE id = ? AND ended_at IS NOT NULL AND recording_deleted_at IS NULL");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, deleted_at);
  stmt->bind(2, id);
  if (auto r = stmt->run(); !r) return r;
  if (tx.changes() != 1) {
    return fail(ErrorCode::kNotFound, "no ended session " + id + " with a kept recording");
  }
  return ok();
}

Result<Secret> recording_key(Store& store) {
  auto stored = store.get_setting(kRecordingKeySetting);
  if (!stored) return tl::make_unexpected(stored.error());
  std::optional<Secret> key = std::move(*stored);
  if (key && key->size() == 32) return std::move(*key);
  // Read and create in one write transaction, so that two first users cannot make two keys.
  auto r = store.transact([&](Store::Tx& tx) -> Result<void> {
    auto stmt = tx.prepare("SELECT value FROM settings WHERE name = ?");
    if (!stmt) return tl::make_unexpected(stmt.error());
    stmt->bind(1, std::string_view(kRecordingKeySetting));
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (*row) {
      key = Secret::copy_of(stmt->column_blob(0));
      return ok();
    }
    key = random_secret(32);
    return store.put_setting(tx, kRecordingKeySetting, key->bytes());
  });
  if (!r) return tl::make_unexpected(r.error());
  if (key->size() != 32) {
    return fail(ErrorCode::kCorrupt, "the store's recording key is malformed");
  }
  return std::move(*key);
}

}  // namespace sekisho::storage
