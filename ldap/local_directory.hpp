// LocalDirectory: the embedded default — users, yescrypt password hashes and roles in the store.
#pragma once

#include "ldap/directory.hpp"
#include "storage/store.hpp"

namespace sekisho::ldap {

class LocalDirectory final : public Directory {
 public:
  // Reads users from `store`, which must outlive this object.
  explicit LocalDirectory(storage::Store& store) : store_(store) {}

  Result<Identity> authenticate(const std::string& user, const Secret& password) override;
  Result<Identity> lookup(const std::string& user) override;
  // Local users have roles, not groups: only "role:NAME" pseudo-groups have members.
  Result<std::vector<std::string>> group_members(const std::string& group) override;

 private:
  storage::Store& store_;
};

}  // namespace sekisho::ldap
