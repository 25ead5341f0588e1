#include "storage/requests.hpp"

#include <nlohmann/json.hpp>

namespace sekisho::storage {

namespace {

constexpr char kRequestColumns[] =
    "SELECT r.id, r.requester_id, u.name, r.account_id, a.name, h.name, h.host_group, r.reason, "
    "r.ticket, r.mode, r.state, r.break_glass, r.start_at, r.end_at, r.created_at, r.updated_at, "
    "r.policy, r.approvals_needed, r.overdue_notified "
    "FROM requests r JOIN users u ON u.id = r.requester_id "
    "JOIN accounts a ON a.id = r.account_id JOIN hosts h ON h.id = a.host_id ";

RequestRow read_request(const Statement& s) {
  RequestRow r;
  r.id = s.column_text(0);
  r.requester_id = s.column_int(1);
  r.requester = s.column_text(2);
  r.account_id = s.column_int(3);
  r.account = s.column_text(4);
  r.host = s.column_text(5);
  r.host_group = s.column_text(6);
  r.reason = s.column_text(7);
  if (!s.column_is_null(8)) r.ticket = s.column_text(8);
  r.mode = s.column_text(9);
  r.state = s.column_text(10);
  r.break_glass = s.column_int(11) != 0;
  r.start_at = s.column_text(12);
  r.end_at = s.column_text(13);
  r.created_at = s.column_text(14);
  r.updated_at = s.column_text(15);
  r.policy = s.column_text(16);
  r.approvals_needed = static_cast<int>(s.column_int(17));
  r.overdue_notified = s.column_int(18) != 0;
  return r;
}

}  // namespace

Result<void> insert_request(Store::Tx& tx, const RequestRow& row) {
  auto stmt = tx.prepare(
      "INSERT INTO requests (id, requester_id, account_id, reason, ticket, mode, state, "
      "break_glass, start_at, end_at, created_at, updated_at, policy, approvals_needed) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, row.id).bind(2, row.requester_id).bind(3, row.account_id).bind(4, row.reason);
  if (row.ticket) {
    stmt->bind(5, *row.ticket);
  } else {
    stmt->bind_null(5);
  }
  stmt->bind(6, row.mode)
      .bind(7, row.state)
      .bind(8, std::int64_t{row.break_glass})
      .bind(9, row.start_at)
      .bind(10, row.end_at)
      .bind(11, row.created_at)
      .bind(12, row.updated_at)
      .bind(13, row.policy)
      .bind(14, std::int64_t{row.approvals_needed});
  return stmt->run();
}

Result<std::optional<RequestRow>> find_request(Store::Tx& tx, const std::string& id) {
  auto stmt = tx.prepare(std::string(kRequestColumns) + "WHERE r.id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, id);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::optional<RequestRow>{};
  return std::optional<RequestRow>{read_request(*stmt)};
}

Result<std::vector<RequestRow>> list_requests(Store::Tx& tx, const RequestFilter& filter) {
  std::string sql = std::string(kRequestColumns) + "WHERE 1 = 1 ";
  if (filter.requester_id) sql += "AND r.requester_id = ? ";
  if (filter.account_id) sql += "AND r.account_id = ? ";
  if (!filter.states.empty()) {
    sql += "AND r.state IN (";
    for (std::size_t i = 0; i < filter.states.size(); ++i) sql += i ? ", ?" : "?";
    sql += ") ";
  }
  sql += "ORDER BY r.created_at DESC, r.id LIMIT ?";
  auto stmt = tx.prepare(sql);
  if (!stmt) return tl::make_unexpected(stmt.error());
  int i = 1;
  if (filter.requester_id) stmt->bind(i++, *filter.requester_id);
  if (filter.account_id) stmt->bind(i++, *filter.account_id);
  for (const auto& s : filter.states) stmt->bind(i++, s);
  stmt->bind(i, static_cast<std::int64_t>(filter.limit));
  std::vector<RequestRow> out;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return out;
    out.push_back(read_request(*stmt));
  }
}

Result<void> set_request_state(Store::Tx& tx, const std::string& id, const std::string& state,
                               const std::string& updated_at) {
  auto stmt = tx.prepare("UPDATE requests SET state = ?, updated_at = ? WHERE id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, state).bind(2, updated_at).bind(3, id);
  if (auto r = stmt->run(); !r) return r;
  if (tx.changes() != 1) return fail(ErrorCode::kNotFound, "no request " + id);
  return ok();
}

Result<void> set_overdue_notified(Store::Tx& tx, const std::string& id) {
  auto stmt = tx.prepare("UPDATE requests SET overdue_notified = 1 WHERE id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, id);
  return stmt->run();
}

Result<void> insert_review(Store::Tx& tx, const ReviewRow& row) {
  auto seen = tx.prepare("SELECT 1 FROM reviews WHERE request_id = ? AND reviewer_id = ?");
  if (!seen) return tl::make_unexpected(seen.error());
  seen->bind(1, row.request_id).bind(2, row.reviewer_id);
  auto exists = seen->step();
  if (!exists) return tl::make_unexpected(exists.error());
  if (*exists) {
    return fail(ErrorCode::kAlreadyExists, "you already reviewed request " + row.request_id);
  }
  auto stmt = tx.prepare(
      "INSERT INTO reviews (request_id, reviewer_id, decision, comment, created_at) "
      "VALUES (?, ?, ?, ?, ?)");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, row.request_id)
      .bind(2, row.reviewer_id)
      .bind(3, row.decision)
      .bind(4, row.comment)
      .bind(5, row.created_at);
  return stmt->run();
}

Result<std::vector<ReviewRow>> list_reviews(Store::Tx& tx, const std::string& request_id) {
  auto stmt = tx.prepare(
      "SELECT v.request_id, v.reviewer_id, u.name, v.decision, v.comment, v.created_at "
      "FROM reviews v JOIN users u ON u.id = v.reviewer_id WHERE v.request_id = ? "
      "ORDER BY v.created_at, v.id");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, request_id);
  std::vector<ReviewRow> out;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return out;
    ReviewRow r;
    r.request_id = stmt->column_text(0);
    r.reviewer_id = stmt->column_int(1);
    r.reviewer = stmt->column_text(2);
    r.decision = stmt->column_text(3);
    r.comment = stmt->column_text(4);
    r.created_at = stmt->column_text(5);
    out.push_back(std::move(r));
  }
}

Result<std::optional<AccountRef>> find_account_ref(Store::Tx& tx, const std::string& host,
                                                   const std::string& account) {
  auto stmt = tx.prepare(
      "SELECT a.id, h.host_group, h.retired_at IS NOT NULL FROM accounts a "
      "JOIN hosts h ON h.id = a.host_id WHERE h.name = ? AND a.name = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, host).bind(2, account);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::optional<AccountRef>{};
  return std::optional<AccountRef>{
      AccountRef{stmt->column_int(0), stmt->column_text(1), stmt->column_int(2) != 0}};
}

Result<void> set_directory_profile(Store::Tx& tx, std::int64_t user_id,
                                   const DirectoryProfile& profile) {
  auto stmt = tx.prepare("UPDATE users SET directory_entry = ?, directory_groups = ? WHERE id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, profile.entry).bind(2, nlohmann::json(profile.groups).dump()).bind(3, user_id);
  return stmt->run();
}

Result<DirectoryProfile> directory_profile(Store::Tx& tx, std::int64_t user_id) {
  auto stmt = tx.prepare(
      "SELECT name, coalesce(directory_entry, ''), coalesce(directory_groups, '[]') "
      "FROM users WHERE id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, user_id);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return fail(ErrorCode::kNotFound, "no user " + std::to_string(user_id));
  DirectoryProfile p;
  p.entry = stmt->column_text(1);
  if (p.entry.empty()) p.entry = "local:" + stmt->column_text(0);
  auto groups = nlohmann::json::parse(stmt->column_text(2), nullptr, false);
  if (!groups.is_array()) return fail(ErrorCode::kCorrupt, "users.directory_groups: not a list");
  for (const auto& g : groups) {
    if (g.is_string()) p.groups.push_back(g.get<std::string>());
  }
  return p;
}

Result<std::vector<std::string>> users_with_role(Store::Tx& tx, const std::string& role) {
  auto stmt = tx.prepare(
      "SELECT u.name FROM users u JOIN user_roles r ON r.user_id = u.id "
      "WHERE r.role = ? AND u.disabled = 0 ORDER BY u.name");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, role);
  std::vector<std::string> out;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return out;
    out.push_back(stmt->column_text(0));
  }
}

}  // namespace sekisho::storage
