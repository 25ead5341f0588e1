// Local gateway users as rows of the store (the embedded directory).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

struct NewUser {
  std::string name;
  std::string password_hash;  // crypt(3) string; never the password
  std::vector<std::string> roles;
  bool must_change_password = false;
  std::string created_at;
};

// Checks a user name: 1-64 characters of [A-Za-z0-9._-], not starting with '-' or '.'.
[[nodiscard]] Result<void> check_user_name(const std::string& name);

// Inserts a local user and its roles inside `tx`; refuses a taken name or an unknown role.
[[nodiscard]] Result<std::int64_t> create_user(Store::Tx& tx, const NewUser& user);

}  // namespace sekisho::storage
