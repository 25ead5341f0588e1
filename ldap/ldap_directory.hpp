// LdapDirectory: users, groups and staff status from an LDAP server or Active Directory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "ldap/directory.hpp"
#include "ldap/ldap_config.hpp"

namespace sekisho::ldap {

// Reads people over LDAPS or StartTLS (verified against the configured CA), searching as a
// service account and checking passwords by a simple bind as the user's own DN. Holds no
// connection between calls: every call opens its own, so any thread may call any method.
class LdapDirectory final : public Directory {
 public:
  // Validates `config` (URL scheme, CA file for TLS, plain ldap:// only with allow_plaintext,
  // a {user} placeholder in user_filter, a timeout) and reads the service account's password
  // from bind_password_file (first line; refused unless mode 0600). Does not connect.
  // Errors: kInvalidArgument for the configuration, kPermissionDenied/kIo for the password file.
  [[nodiscard]] static Result<std::unique_ptr<LdapDirectory>> create(const LdapConfig& config);

  // See Directory. A disabled account (AD userAccountControl bit 2, OpenLDAP ppolicy
  // pwdAccountLockedTime) is refused with kPermissionDenied without trying its password (the
  // server would refuse any bind); a departed one (departed_filter) after its password checked.
  [[nodiscard]] Result<Identity> authenticate(const std::string& user,
                                              const Secret& password) override;
  [[nodiscard]] Result<Identity> lookup(const std::string& user) override;
  // Values of login_attribute of the entries listed in the group's member/uniqueMember.
  // kNotFound when the group DN does not exist.
  [[nodiscard]] Result<std::vector<std::string>> group_members(const std::string& group) override;

  const LdapConfig& config() const { return config_; }

 private:
  LdapDirectory(LdapConfig config, Secret bind_password)
      : config_(std::move(config)), bind_password_(std::move(bind_password)) {}

  LdapConfig config_;
  Secret bind_password_;
};

// True when `user` may be sent to the directory at all: 1-256 bytes, no control characters.
bool valid_login_name(const std::string& user);

}  // namespace sekisho::ldap
