// [directory], [roles] and [auth] of the daemon's configuration: where the users are (the local
// table or LDAP / Active Directory), which directory groups carry which role, and how logins
// are checked (token lifetime, the failure throttle, TOTP).
#include <chrono>
#include <string>
#include <utility>

#include "base/clock.hpp"
#include "broker/daemon/config_reader.hpp"

namespace sekisho::broker::config_detail {

namespace {

Result<void> read_ldap_keys(const ConfigReader& rd, const Table& t, ldap::LdapConfig& l) {
  const std::pair<const char*, std::string*> strings[] = {{"url", &l.url},
                                                          {"bind_dn", &l.bind_dn},
                                                          {"user_base", &l.user_base},
                                                          {"user_filter", &l.user_filter},
                                                          {"group_base", &l.group_base},
                                                          {"departed_filter", &l.departed_filter},
                                                          {"login_attribute", &l.login_attribute}};
  for (const auto& [key, out] : strings) {
    if (!t.contains(key)) continue;
    auto s = rd.string_at(t, "directory", key);
    if (!s) return tl::make_unexpected(s.error());
    *out = *s;
  }
  for (const char* key : {"ca_file", "bind_password_file"}) {
    if (!t.contains(key)) continue;
    auto s = rd.string_at(t, "directory", key);
    if (!s) return tl::make_unexpected(s.error());
    (std::string(key) == "ca_file" ? l.ca_file : l.bind_password_file) = *s;
  }
  const std::pair<const char*, bool*> flags[] = {{"start_tls", &l.start_tls},
                                                 {"allow_plaintext", &l.allow_plaintext},
                                                 {"active_directory", &l.active_directory}};
  for (const auto& [key, out] : flags) {
    if (!t.contains(key)) continue;
    const auto& v = t.as_table().at(key);
    if (!v.is_boolean())
      return tl::make_unexpected(
          rd.error(std::string("directory.") + key, "must be true or false"));
    *out = v.as_boolean();
  }
  if (t.contains("timeout")) {
    auto s = rd.string_at(t, "directory", "timeout");
    if (!s) return tl::make_unexpected(s.error());
    auto d = parse_duration(*s);
    if (!d) return tl::make_unexpected(rd.error("directory.timeout", d.error().message));
    l.timeout = *d;
  }
  if (l.url.empty())
    return tl::make_unexpected(rd.error("directory.url", "required when kind = \"ldap\""));
  if (l.user_base.empty())
    return tl::make_unexpected(rd.error("directory.user_base", "required when kind = \"ldap\""));
  if (l.user_filter.find("{user}") == std::string::npos) {
    return tl::make_unexpected(rd.error("directory.user_filter", "must contain {user}"));
  }
  return ok();
}

}  // namespace

Result<void> read_directory(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("directory")) return ok();
  const auto& t = root.as_table().at("directory");
  if (auto r =
          rd.only_keys(t, "directory",
                       {"kind", "url", "ca_file", "start_tls", "allow_plaintext", "bind_dn",
                        "bind_password_file", "user_base", "user_filter", "login_attribute",
                        "group_base", "departed_filter", "active_directory", "timeout", "recheck"});
      !r) {
    return r;
  }
  if (t.contains("recheck")) {
    auto s = rd.string_at(t, "directory", "recheck");
    if (!s) return tl::make_unexpected(s.error());
    auto d = parse_duration(*s);
    if (!d) return tl::make_unexpected(rd.error("directory.recheck", d.error().message));
    config.directory_recheck = *d;
  }
  if (t.contains("kind")) {
    auto s = rd.string_at(t, "directory", "kind");
    if (!s) return tl::make_unexpected(s.error());
    if (*s != "local" && *s != "ldap") {
      return tl::make_unexpected(rd.error("directory.kind", "must be \"local\" or \"ldap\""));
    }
    config.directory_kind = *s;
  }
  if (config.directory_kind == "ldap") return read_ldap_keys(rd, t, config.ldap);
  return ok();
}

Result<void> read_roles(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("roles")) return ok();
  const auto& t = root.as_table().at("roles");
  if (auto r = rd.only_keys(t, "roles", {"requester", "approver", "auditor", "operator"}); !r)
    return r;
  for (const auto& [role, value] : t.as_table()) {
    auto groups = string_list(rd, t, role, "roles." + role);
    if (!groups) return tl::make_unexpected(groups.error());
    config.ldap.role_groups[role] = *groups;
  }
  return ok();
}

Result<void> read_auth(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("auth")) return ok();
  const auto& t = root.as_table().at("auth");
  if (auto r = rd.only_keys(
          t, "auth",
          {"token_ttl", "max_failures", "failure_window", "lockout", "require_totp_for"});
      !r) {
    return r;
  }
  const std::pair<const char*, std::chrono::seconds*> durations[] = {
      {"token_ttl", &config.auth.token_ttl},
      {"failure_window", &config.auth.throttle.failure_window},
      {"lockout", &config.auth.throttle.lockout}};
  for (const auto& [key, out] : durations) {
    if (!t.contains(key)) continue;
    auto s = rd.string_at(t, "auth", key);
    if (!s) return tl::make_unexpected(s.error());
    auto d = parse_duration(*s);
    if (!d) return tl::make_unexpected(rd.error(std::string("auth.") + key, d.error().message));
    *out = *d;
  }
  if (t.contains("max_failures")) {
    const auto& v = t.as_table().at("max_failures");
    if (!v.is_integer() || v.as_integer() < 1 || v.as_integer() > 1000) {
      return tl::make_unexpected(
          rd.error("auth.max_failures", "must be an integer from 1 to 1000"));
    }
    config.auth.throttle.max_failures = static_cast<int>(v.as_integer());
  }
  if (t.contains("require_totp_for")) {
    auto roles = string_list(rd, t, "require_totp_for", "auth.require_totp_for");
    if (!roles) return tl::make_unexpected(roles.error());
    config.auth.require_totp_for = *roles;
  }
  return ok();
}

}  // namespace sekisho::broker::config_detail
