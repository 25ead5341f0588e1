#include "storage/checkouts.hpp"

namespace sekisho::storage {

namespace {

constexpr char kCheckoutColumns[] =
    "SELECT co.id, co.request_id, co.account_id, co.user_id, u.name, co.started_at, co.until, "
    "coalesce(co.ended_at, ''), co.end_reason FROM checkouts co JOIN users u ON u.id = co.user_id ";

CheckoutRow read_checkout(const Statement& s) {
  CheckoutRow c;
  c.id = s.column_int(0);
  c.request_id = s.column_text(1);
  c.account_id = s.column_int(2);
  c.user_id = s.column_int(3);
  c.user_name = s.column_text(4);
  c.started_at = s.column_text(5);
  c.until = s.column_text(6);
  c.ended_at = s.column_text(7);
  c.end_reason = s.column_text(8);
  return c;
}

// Runs a check-out query that binds one value and collects every row.
template <typename T>
Result<std::vector<CheckoutRow>> checkout_rows(Store::Tx& tx, const std::string& where, T value) {
  auto stmt = tx.prepare(std::string(kCheckoutColumns) + where);
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, value);
  std::vector<CheckoutRow> rows;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return rows;
    rows.push_back(read_checkout(*stmt));
  }
}

template <typename T>
Result<std::optional<CheckoutRow>> one_checkout(Store::Tx& tx, const std::string& where, T value) {
  auto rows = checkout_rows(tx, where, value);
  if (!rows) return tl::make_unexpected(rows.error());
  if (rows->empty()) return std::optional<CheckoutRow>();
  return std::optional<CheckoutRow>(std::move(rows->front()));
}

// Refuses with "ACCOUNT@HOST is checked out by USER until TIME" for the open check-out `held`.
Result<CheckoutRow> refuse_held(Store::Tx& tx, const CheckoutRow& held) {
  auto stmt = tx.prepare(
      "SELECT a.name || '@' || h.name FROM accounts a JOIN hosts h ON h.id = a.host_id "
      "WHERE a.id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, held.account_id);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  const std::string what = *row ? stmt->column_text(0) : "the account";
  return fail(ErrorCode::kAlreadyExists,
              what + " is checked out by " + held.user_name + " until " + held.until);
}

}  // namespace

Result<CheckoutRow> open_checkout(Store::Tx& tx, const std::string& request_id,
                                  std::int64_t account_id, std::int64_t user_id,
                                  const std::string& started_at, const std::string& until) {
  auto mine = find_checkout(tx, request_id);
  if (!mine) return tl::make_unexpected(mine.error());
  if (mine->has_value()) {
    if ((*mine)->ended_at.empty()) return **mine;
    return fail(ErrorCode::kInvalidArgument, "the check-out of request " + request_id +
                                                 " ended at " + (*mine)->ended_at +
                                                 "; a request is checked out once");
  }
  auto held = open_checkout_of_account(tx, account_id);
  if (!held) return tl::make_unexpected(held.error());
  if (held->has_value()) return refuse_held(tx, **held);
  auto stmt = tx.prepare(
      "INSERT INTO checkouts (request_id, account_id, user_id, started_at, until) "
      "VALUES (?, ?, ?, ?, ?)");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, request_id).bind(2, account_id).bind(3, user_id).bind(4, started_at).bind(5, until);
  // The unique index on open check-outs is the last word should two writers ever race.
  if (auto r = stmt->run(); !r) return tl::make_unexpected(r.error());
  auto row = find_checkout(tx, request_id);
  if (!row) return tl::make_unexpected(row.error());
  if (!row->has_value()) return fail(ErrorCode::kInternal, "check-out vanished after insert");
  return **row;
}

Result<std::optional<CheckoutRow>> find_checkout(Store::Tx& tx, const std::string& request_id) {
  return one_checkout(tx, "WHERE co.request_id = ?", request_id);
}

Result<std::optional<CheckoutRow>> open_checkout_of_account(Store::Tx& tx,
                                                            std::int64_t account_id) {
  return one_checkout(tx, "WHERE co.account_id = ? AND co.ended_at IS NULL", account_id);
}

Result<bool> end_checkout(Store::Tx& tx, const std::string& request_id, const std::string& reason,
                          const std::string& now) {
  auto stmt = tx.prepare(
      "UPDATE checkouts SET ended_at = ?, end_reason = ? "
      "WHERE request_id = ? AND ended_at IS NULL");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, now).bind(2, reason).bind(3, request_id);
  if (auto r = stmt->run(); !r) return tl::make_unexpected(r.error());
  return tx.changes() > 0;
}

Result<std::vector<CheckoutRow>> checkouts_past_window(Store::Tx& tx, const std::string& now) {
  return checkout_rows(tx, "WHERE co.ended_at IS NULL AND co.until <= ? ORDER BY co.until", now);
}

Result<std::vector<std::int64_t>> accounts_seen_by(Store::Tx& tx, std::int64_t user_id) {
  auto stmt =
      tx.prepare("SELECT DISTINCT account_id FROM checkouts WHERE user_id = ? ORDER BY account_id");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, user_id);
  std::vector<std::int64_t> ids;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return ids;
    ids.push_back(stmt->column_int(0));
  }
}

}  // namespace sekisho::storage
