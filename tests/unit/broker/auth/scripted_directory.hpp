// A Directory for unit tests: lookups answered from a table, or kUnavailable when "down".
#pragma once

#include <map>
#include <string>

#include "ldap/directory.hpp"

namespace sekisho::testing {

class ScriptedDirectory final : public ldap::Directory {
 public:
  // Refuses every password: tests that need a directory password use the local directory.
  Result<ldap::Identity> authenticate(const std::string&, const Secret&) override {
    ++authentications;
    if (down) return fail(ErrorCode::kUnavailable, "cannot reach the directory");
    return fail(ErrorCode::kUnauthenticated, "wrong user name or password");
  }
  Result<ldap::Identity> lookup(const std::string& user) override {
    ++lookups;
    if (down) return fail(ErrorCode::kUnavailable, "cannot reach the directory");
    const auto it = people.find(user);
    if (it == people.end()) return fail(ErrorCode::kNotFound, "no user " + user);
    return it->second;
  }
  Result<std::vector<std::string>> group_members(const std::string&) override {
    return std::vector<std::string>{};
  }

  // An LDAP person as lookup() returns them.
  static ldap::Identity person(const std::string& name, std::vector<std::string> roles,
                               ldap::StaffStatus status = ldap::StaffStatus::kActive) {
    ldap::Identity id;
    id.name = name;
    id.source = "ldap";
    id.dn = "uid=" + name + ",ou=people,dc=example,dc=com";
    id.roles = std::move(roles);
    id.status = status;
    return id;
  }

  std::map<std::string, ldap::Identity> people;
  bool down = false;
  int lookups = 0;
  int authentications = 0;
};

}  // namespace sekisho::testing
