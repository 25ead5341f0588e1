// LdapConfig: how to reach and read an LDAP / Active Directory server ([directory] and [roles]).
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace sekisho::ldap {

struct LdapConfig {
  std::string url;                // "ldaps://host:port" or "ldap://host:port" (with start_tls)
  std::filesystem::path ca_file;  // PEM CA that signed the server certificate (required for TLS)
  bool start_tls = false;         // upgrade an ldap:// connection with StartTLS
  bool allow_plaintext = false;   // ldap:// without TLS: refused unless set (tests only)
  std::string bind_dn;            // service account used to search
  std::filesystem::path bind_password_file;  // its password (first line), file mode 0600
  std::string user_base;                     // e.g. "ou=people,dc=example,dc=com"
  // {user} is replaced by the escaped login name.
  std::string user_filter = "(&(objectClass=inetOrgPerson)(uid={user}))";
  std::string login_attribute = "uid";  // attribute holding the login name ("sAMAccountName" on AD)
  std::string group_base;               // e.g. "ou=groups,dc=example,dc=com"
  std::string departed_filter;    // optional; an entry matching it is a departed member of staff
  bool active_directory = false;  // userAccountControl disabled bit, UPN logins
  std::map<std::string, std::vector<std::string>> role_groups;  // role -> group DNs ([roles])
  std::chrono::seconds timeout{5};                              // network and operation time-out
};

}  // namespace sekisho::ldap
