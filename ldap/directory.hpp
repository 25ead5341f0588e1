// Directory: who a person is and which roles they hold. The local table (embedded default) and
// LDAP / Active Directory implement it; the API and the gateways only see this interface.
#pragma once

#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho::ldap {

enum class StaffStatus { kActive, kDisabled, kDeparted };

struct Identity {
  std::string name;                 // the login name the gateway uses (uid, sAMAccountName, local)
  std::string source;               // "local" or "ldap"
  std::string dn;                   // LDAP distinguished name; empty for local users
  std::vector<std::string> roles;   // requester, approver, auditor, operator
  std::vector<std::string> groups;  // directory group DNs (LDAP); empty for local users
  StaffStatus status = StaffStatus::kActive;
  bool must_change_password = false;  // local one-time passwords
};

// Implementations are thread-safe: the API calls them from several request threads.
class Directory {
 public:
  virtual ~Directory() = default;

  // Checks `password` for `user`. Errors: kUnauthenticated for an unknown user or a wrong or
  // empty password (one message for both, so names cannot be probed); kPermissionDenied for a
  // disabled or departed user; kUnavailable when the directory cannot be reached; kInvalidArgument
  // for a malformed name. Never logs or returns the password.
  [[nodiscard]] virtual Result<Identity> authenticate(const std::string& user,
                                                      const Secret& password) = 0;

  // Looks `user` up without a password (key logins, leaver reports). kNotFound when unknown;
  // disabled and departed users are returned with their status, not refused.
  [[nodiscard]] virtual Result<Identity> lookup(const std::string& user) = 0;

  // Login names of the members of group `group` (a DN for LDAP).
  [[nodiscard]] virtual Result<std::vector<std::string>> group_members(
      const std::string& group) = 0;
};

}  // namespace sekisho::ldap
