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

}  // namespace sekisho::storage
