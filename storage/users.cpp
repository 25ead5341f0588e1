#include "storage/users.hpp"

namespace sekisho::storage {

Result<void> check_user_name(const std::string& name) {
  const bool length_ok = !name.empty() && name.size() <= 64;
  bool chars_ok = length_ok && name[0] != '-' && name[0] != '.';
  for (char c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    chars_ok = chars_ok && allowed;
  }
  if (!chars_ok) {
    return fail(ErrorCode::kInvalidArgument,
                "user name must be 1-64 characters of letters, digits, '.', '_' or '-' and not "
                "start with '-' or '.'");
  }
  return ok();
}

Result<std::int64_t> create_user(Store::Tx& tx, const NewUser& user) {
  if (auto r = check_user_name(user.name); !r) return tl::make_unexpected(r.error());
  auto exists = tx.prepare("SELECT 1 FROM users WHERE name = ?");
  if (!exists) return tl::make_unexpected(exists.error());
  exists->bind(1, user.name);
  auto found = exists->step();
  if (!found) return tl::make_unexpected(found.error());
  if (*found) return fail(ErrorCode::kAlreadyExists, "user " + user.name + " already exists");

  auto insert = tx.prepare(
      "INSERT INTO users (name, source, password_hash, must_change_password, created_at) "
      "VALUES (?, 'local', ?, ?, ?)");
  if (!insert) return tl::make_unexpected(insert.error());
  insert->bind(1, user.name)
      .bind(2, user.password_hash)
      .bind(3, user.must_change_password ? 1 : 0)
      .bind(4, user.created_at);
  if (auto r = insert->run(); !r) return tl::make_unexpected(r.error());
  const std::int64_t id = tx.last_insert_id();
  for (const std::string& role : user.roles) {
    if (role != "requester" && role != "approver" && role != "auditor" && role != "operator") {
      return fail(ErrorCode::kInvalidArgument,
                  "unknown role '" + role + "' (requester, approver, auditor, operator)");
    }
    auto grant = tx.prepare("INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?, ?)");
    if (!grant) return tl::make_unexpected(grant.error());
    grant->bind(1, id).bind(2, role);
    if (auto r = grant->run(); !r) return tl::make_unexpected(r.error());
  }
  return id;
}

namespace {

Result<std::vector<std::string>> roles_of(Store::Tx& tx, std::int64_t user_id) {
  auto stmt = tx.prepare("SELECT role FROM user_roles WHERE user_id = ? ORDER BY role");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, user_id);
  std::vector<std::string> roles;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return roles;
    roles.push_back(stmt->column_text(0));
  }
}

constexpr char kUserColumns[] =
    "SELECT id, name, source, coalesce(password_hash, ''), must_change_password, disabled, "
    "totp_secret IS NOT NULL, created_at FROM users ";

Result<UserRecord> read_user(Store::Tx& tx, Statement& stmt) {
  UserRecord u;
  u.id = stmt.column_int(0);
  u.name = stmt.column_text(1);
  u.source = stmt.column_text(2);
  u.password_hash = stmt.column_text(3);
  u.must_change_password = stmt.column_int(4) != 0;
  u.disabled = stmt.column_int(5) != 0;
  u.totp_enrolled = stmt.column_int(6) != 0;
  u.created_at = stmt.column_text(7);
  auto roles = roles_of(tx, u.id);
  if (!roles) return tl::make_unexpected(roles.error());
  u.roles = std::move(*roles);
  return u;
}

}  // namespace

Result<std::optional<UserRecord>> find_user(Store::Tx& tx, const std::string& name) {
  auto stmt = tx.prepare(std::string(kUserColumns) + "WHERE name = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, name);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::optional<UserRecord>();
  auto user = read_user(tx, *stmt);
  if (!user) return tl::make_unexpected(user.error());
  return std::optional<UserRecord>(std::move(*user));
}

Result<std::vector<UserRecord>> list_users(Store::Tx& tx) {
  auto stmt = tx.prepare(std::string(kUserColumns) + "ORDER BY name");
  if (!stmt) return tl::make_unexpected(stmt.error());
  std::vector<UserRecord> users;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return users;
    auto user = read_user(tx, *stmt);
    if (!user) return tl::make_unexpected(user.error());
    users.push_back(std::move(*user));
  }
}

Result<void> set_password_hash(Store::Tx& tx, std::int64_t user_id, const std::string& hash,
                               bool must_change) {
  auto stmt =
      tx.prepare("UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, hash).bind(2, must_change ? 1 : 0).bind(3, user_id);
  return stmt->run();
}

Result<void> set_disabled(Store::Tx& tx, std::int64_t user_id, bool disabled) {
  auto stmt = tx.prepare("UPDATE users SET disabled = ? WHERE id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, disabled ? 1 : 0).bind(2, user_id);
  return stmt->run();
}

Result<std::int64_t> ensure_directory_user(Store::Tx& tx, const std::string& name,
                                           const std::string& created_at) {
  auto existing = find_user(tx, name);
  if (!existing) return tl::make_unexpected(existing.error());
  if (existing->has_value()) {
    if ((*existing)->source != "ldap") {
      return fail(ErrorCode::kAlreadyExists, "a local user called " + name +
                                                 " exists; it cannot also come from the directory");
    }
    return (*existing)->id;
  }
  auto insert = tx.prepare("INSERT INTO users (name, source, created_at) VALUES (?, 'ldap', ?)");
  if (!insert) return tl::make_unexpected(insert.error());
  insert->bind(1, name).bind(2, created_at);
  if (auto r = insert->run(); !r) return tl::make_unexpected(r.error());
  return tx.last_insert_id();
}

Result<void> set_totp_pending(Store::Tx& tx, std::int64_t user_id, const Secret& secret) {
  auto stmt = tx.prepare("UPDATE users SET totp_pending = ? WHERE id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind_blob(1, secret.bytes()).bind(2, user_id);
  return stmt->run();
}

Result<void> confirm_totp(Store::Tx& tx, std::int64_t user_id) {
  auto stmt = tx.prepare(
      "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL "
      "WHERE id = ? AND totp_pending IS NOT NULL");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, user_id);
  if (auto r = stmt->run(); !r) return r;
  if (tx.changes() == 0)
    return fail(ErrorCode::kNotFound, "no TOTP enrolment is pending; run: sekisho totp enroll");
  return ok();
}

Result<std::optional<Secret>> totp_secret(Store::Tx& tx, std::int64_t user_id, bool pending) {
  auto stmt = tx.prepare(pending ? "SELECT totp_pending FROM users WHERE id = ?"
                                 : "SELECT totp_secret FROM users WHERE id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, user_id);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row || stmt->column_is_null(0)) return std::optional<Secret>();
  return std::optional<Secret>(Secret::copy_of(stmt->column_blob(0)));
}

}  // namespace sekisho::storage
