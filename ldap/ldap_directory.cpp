// LdapDirectory: who a person is, from the directory's entries. The connection, its TLS and the
// search primitive are in ldap_connection.cpp; here: the configuration check, the user's one
// entry, their groups and the roles those carry, their staff status, and the password check.
#include "ldap/ldap_directory.hpp"

#include <ldap.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "base/files.hpp"
#include "ldap/ldap_connection.hpp"
#include "ldap/ldap_filter.hpp"

namespace sekisho::ldap {

namespace {

using detail::Connection;
using detail::directory_error;
using detail::Entry;
using detail::LdapString;
using detail::logger;
using detail::lower;
using detail::service_connection;
using detail::starts_with_nocase;

constexpr char kWrongCredentials[] = "wrong user name or password";
constexpr std::size_t kMaxNameBytes = 256;
constexpr std::size_t kMaxPasswordBytes = 1024;
constexpr std::size_t kMaxPasswordFileBytes = 4096;
constexpr int kAdAccountDisable = 0x2;  // userAccountControl ACCOUNTDISABLE

// The one entry for `user`, or kNotFound (none, or more than one: never guess between people).
Result<Entry> find_user(const LdapConfig& config, Connection& conn, const std::string& user) {
  std::string filter;
  if (config.active_directory && user.find('@') != std::string::npos) {
    filter = "(&(objectClass=user)(userPrincipalName=" + escape_filter_value(user) + "))";
  } else {
    filter = build_user_filter(config.user_filter, user);
  }
  const std::vector<std::string> attrs = {config.login_attribute, "memberOf", "userAccountControl",
                                          "pwdAccountLockedTime"};
  bool truncated = false;
  auto found = conn.search(config.user_base, LDAP_SCOPE_SUBTREE, filter, attrs, 2, &truncated);
  if (!found) return tl::make_unexpected(found.error());
  if (found->size() != 1 || truncated) {
    if (found->size() > 1) logger()->warn("login name {} matches several entries", user);
    return fail(ErrorCode::kNotFound, "no user " + user);
  }
  return std::move(found->front());
}

// A DN in one canonical spelling (RFC 4514, lower case) so that group DNs compare reliably.
std::string canonical_dn(const std::string& dn) {
  char* raw = nullptr;
  if (ldap_dn_normalize(dn.c_str(), LDAP_DN_FORMAT_LDAP, &raw, LDAP_DN_FORMAT_LDAPV3) !=
      LDAP_SUCCESS) {
    return lower(dn);
  }
  LdapString norm(raw);
  return lower(norm ? std::string(norm.get()) : dn);
}

Result<std::vector<std::string>> groups_of(const LdapConfig& config, Connection& conn,
                                           const Entry& entry) {
  if (const auto* member_of = entry.get("memberOf")) return *member_of;
  std::vector<std::string> groups;
  if (config.group_base.empty()) return groups;
  const std::string dn = escape_filter_value(entry.dn);
  const std::string filter = "(|(member=" + dn + ")(uniqueMember=" + dn + "))";
  auto found = conn.search(config.group_base, LDAP_SCOPE_SUBTREE, filter, {});
  if (!found) return tl::make_unexpected(found.error());
  for (auto& g : *found) groups.push_back(std::move(g.dn));
  return groups;
}

Result<StaffStatus> status_of(const LdapConfig& config, Connection& conn, const Entry& entry) {
  if (config.active_directory || entry.get("userAccountControl") != nullptr) {
    const std::string uac = entry.first("userAccountControl");
    const long flags = uac.empty() ? 0 : std::strtol(uac.c_str(), nullptr, 10);
    if ((flags & kAdAccountDisable) != 0) return StaffStatus::kDisabled;
  }
  if (entry.get("pwdAccountLockedTime") != nullptr) return StaffStatus::kDisabled;
  if (!config.departed_filter.empty()) {
    auto found = conn.search(entry.dn, LDAP_SCOPE_BASE, config.departed_filter, {});
    if (!found) return tl::make_unexpected(found.error());
    if (!found->empty()) return StaffStatus::kDeparted;
  }
  return StaffStatus::kActive;
}

Result<Identity> to_identity(const LdapConfig& config, Connection& conn, const Entry& entry,
                             const std::string& user) {
  Identity id;
  id.name = entry.first(config.login_attribute);
  if (id.name.empty()) id.name = user;
  id.source = "ldap";
  id.dn = entry.dn;
  auto groups = groups_of(config, conn, entry);
  if (!groups) return tl::make_unexpected(groups.error());
  id.groups = std::move(*groups);
  std::vector<std::string> canonical;
  for (const auto& g : id.groups) canonical.push_back(canonical_dn(g));
  for (const auto& [role, role_dns] : config.role_groups) {
    const bool has = std::any_of(role_dns.begin(), role_dns.end(), [&](const std::string& dn) {
      return std::find(canonical.begin(), canonical.end(), canonical_dn(dn)) != canonical.end();
    });
    if (has) id.roles.push_back(role);
  }
  auto status = status_of(config, conn, entry);
  if (!status) return tl::make_unexpected(status.error());
  id.status = *status;
  return id;
}

std::string status_word(StaffStatus s) {
  return s == StaffStatus::kDeparted ? "departed" : "disabled";
}

Result<void> validate(const LdapConfig& config) {
  const bool ldaps = starts_with_nocase(config.url, "ldaps://");
  const bool ldap = starts_with_nocase(config.url, "ldap://");
  if (!ldaps && !ldap) {
    return fail(ErrorCode::kInvalidArgument,
                "directory url must start with ldaps:// or ldap://: " + config.url);
  }
  if (config.url.find_first_of(" \t,") != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "directory url must name one server: " + config.url);
  }
  if (ldaps && config.start_tls) {
    return fail(ErrorCode::kInvalidArgument, "start_tls applies to ldap:// urls, not ldaps://");
  }
  if (ldap && !config.start_tls && !config.allow_plaintext) {
    return fail(ErrorCode::kInvalidArgument,
                "refusing plain " + config.url +
                    ": passwords would cross the network in clear (use ldaps:// or start_tls)");
  }
  if (ldaps || config.start_tls) {
    std::error_code ec;
    if (config.ca_file.empty() || !std::filesystem::is_regular_file(config.ca_file, ec)) {
      return fail(ErrorCode::kInvalidArgument,
                  "directory ca_file is missing: '" + config.ca_file.string() + "'");
    }
  }
  if (config.bind_dn.empty())
    return fail(ErrorCode::kInvalidArgument, "directory bind_dn is empty");
  if (config.user_base.empty()) {
    return fail(ErrorCode::kInvalidArgument, "directory user_base is empty");
  }
  if (config.user_filter.find("{user}") == std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "directory user_filter lacks {user}");
  }
  if (config.login_attribute.empty()) {
    return fail(ErrorCode::kInvalidArgument, "directory login_attribute is empty");
  }
  if (config.timeout.count() <= 0) {
    return fail(ErrorCode::kInvalidArgument, "directory timeout must be positive");
  }
  return ok();
}

}  // namespace

bool valid_login_name(const std::string& user) {
  if (user.empty() || user.size() > kMaxNameBytes) return false;
  return std::none_of(user.begin(), user.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

Result<std::unique_ptr<LdapDirectory>> LdapDirectory::create(const LdapConfig& config) {
  if (auto v = validate(config); !v) return tl::make_unexpected(v.error());
  auto file = read_private_file(config.bind_password_file, kMaxPasswordFileBytes);
  if (!file) return tl::make_unexpected(file.error());
  std::string_view line = file->view();
  line = line.substr(0, line.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "directory bind_password_file is empty: " + config.bind_password_file.string());
  }
  Secret password = Secret::copy_of(line);
  return std::unique_ptr<LdapDirectory>(new LdapDirectory(config, std::move(password)));
}

Result<Identity> LdapDirectory::authenticate(const std::string& user, const Secret& password) {
  if (!valid_login_name(user)) {
    return fail(ErrorCode::kInvalidArgument, "malformed user name");
  }
  // An empty simple bind is an anonymous bind that "succeeds": refuse before any connection.
  if (password.empty() || password.size() > kMaxPasswordBytes) {
    return fail(ErrorCode::kUnauthenticated, kWrongCredentials);
  }
  auto conn = service_connection(config_, bind_password_);
  if (!conn) return tl::make_unexpected(conn.error());
  auto entry = find_user(config_, *conn, user);
  if (!entry) {
    if (entry.error().code == ErrorCode::kNotFound) {
      logger()->info("login refused for unknown user {}", user);
      return fail(ErrorCode::kUnauthenticated, kWrongCredentials);
    }
    return tl::make_unexpected(entry.error());
  }
  auto identity = to_identity(config_, *conn, *entry, user);
  if (!identity) return tl::make_unexpected(identity.error());
  if (identity->status == StaffStatus::kDisabled) {
    logger()->info("login refused for disabled user {}", identity->name);
    return fail(ErrorCode::kPermissionDenied, "user " + identity->name + " is disabled");
  }
  // The password is checked on a connection of its own, so the service account's connection is
  // never rebound as the user.
  auto user_conn = Connection::open(config_);
  if (!user_conn) return tl::make_unexpected(user_conn.error());
  const int rc = user_conn->bind(entry->dn, password);
  if (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH ||
      rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_INVALID_DN_SYNTAX) {
    logger()->info("login refused for user {}: wrong password", identity->name);
    return fail(ErrorCode::kUnauthenticated, kWrongCredentials);
  }
  if (rc != LDAP_SUCCESS) {
    return tl::make_unexpected(directory_error(config_, user_conn->get(), rc, "bind"));
  }
  if (identity->status != StaffStatus::kActive) {
    logger()->info("login refused for {} user {}", status_word(identity->status), identity->name);
    return fail(ErrorCode::kPermissionDenied,
                "user " + identity->name + " is " + status_word(identity->status));
  }
  return identity;
}

Result<Identity> LdapDirectory::lookup(const std::string& user) {
  if (!valid_login_name(user)) return fail(ErrorCode::kInvalidArgument, "malformed user name");
  auto conn = service_connection(config_, bind_password_);
  if (!conn) return tl::make_unexpected(conn.error());
  auto entry = find_user(config_, *conn, user);
  if (!entry) return tl::make_unexpected(entry.error());
  return to_identity(config_, *conn, *entry, user);
}

Result<std::vector<std::string>> LdapDirectory::group_members(const std::string& group) {
  LDAPDN parsed = nullptr;
  if (group.empty() || ldap_str2dn(group.c_str(), &parsed, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS) {
    return fail(ErrorCode::kInvalidArgument, "malformed group DN");
  }
  ldap_dnfree(parsed);
  auto conn = service_connection(config_, bind_password_);
  if (!conn) return tl::make_unexpected(conn.error());
  auto found = conn->search(group, LDAP_SCOPE_BASE, "(objectClass=*)", {"member", "uniqueMember"});
  if (!found) {
    if (found.error().code == ErrorCode::kNotFound) {
      return fail(ErrorCode::kNotFound, "no group " + group);
    }
    return tl::make_unexpected(found.error());
  }
  if (found->empty()) return fail(ErrorCode::kNotFound, "no group " + group);
  std::vector<std::string> member_dns;
  for (const char* attr : {"member", "uniqueMember"}) {
    if (const auto* v = found->front().get(attr)) {
      member_dns.insert(member_dns.end(), v->begin(), v->end());
    }
  }
  std::vector<std::string> names;
  for (const auto& dn : member_dns) {
    auto member = conn->search(dn, LDAP_SCOPE_BASE, "(objectClass=*)", {config_.login_attribute});
    if (!member) {
      if (member.error().code == ErrorCode::kNotFound) continue;  // dangling member reference
      return tl::make_unexpected(member.error());
    }
    if (member->empty()) continue;
    const std::string name = member->front().first(config_.login_attribute);
    if (!name.empty()) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace sekisho::ldap
