#include "broker/daemon/config.hpp"

#include <set>
#include <sstream>
#include <toml.hpp>

#include "base/clock.hpp"
#include "base/files.hpp"
#include "broker/access/notifier.hpp"
#include "broker/daemon/config_recordings.hpp"

namespace sekisho::broker {

namespace {

using Table = toml::basic_value<toml::discard_comments>;

// Collapses a multi-line toml11 message into one line.
std::string one_line(const std::string& text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out.size() > 300 ? out.substr(0, 300) + "..." : out;
}

class ConfigReader {
 public:
  explicit ConfigReader(std::string name) : name_(std::move(name)) {}

  Error error(const std::string& key, const std::string& reason) const {
    return Error{ErrorCode::kInvalidArgument, name_ + ": " + key + ": " + reason};
  }

  // Refuses keys of `table` outside `allowed`.
  Result<void> only_keys(const Table& table, const std::string& section,
                         const std::set<std::string>& allowed) const {
    if (!table.is_table()) return tl::make_unexpected(error(section, "must be a table"));
    for (const auto& [key, value] : table.as_table()) {
      if (!allowed.count(key)) {
        return tl::make_unexpected(error(section + "." + key, "unknown key"));
      }
    }
    return ok();
  }

  Result<std::string> string_at(const Table& table, const std::string& section,
                                const std::string& key) const {
    const auto& v = table.as_table().at(key);
    if (!v.is_string()) return tl::make_unexpected(error(section + "." + key, "must be a string"));
    const std::string s = v.as_string().str;
    if (s.size() > 4096) return tl::make_unexpected(error(section + "." + key, "too long"));
    return s;
  }

  // Reads `section.listen` from `t` when present.
  Result<void> listen_key(const Table& t, const std::string& section, ListenAddress& out) const {
    if (!t.contains("listen")) return ok();
    auto text = string_at(t, section, "listen");
    if (!text) return tl::make_unexpected(text.error());
    auto addr = parse_listen_address(*text);
    if (!addr) return tl::make_unexpected(error(section + ".listen", addr.error().message));
    out = *addr;
    return ok();
  }

  // A section whose only key is `listen` ([ssh], [rdp]).
  Result<void> listen_section(const Table& root, const std::string& section,
                              ListenAddress& out) const {
    if (!root.contains(section)) return ok();
    const auto& t = root.as_table().at(section);
    if (auto r = only_keys(t, section, {"listen"}); !r) return r;
    return listen_key(t, section, out);
  }

 private:
  std::string name_;
};

Result<void> read_log(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("log")) return ok();
  const auto& t = root.as_table().at("log");
  if (auto r = rd.only_keys(t, "log", {"format", "level"}); !r) return r;
  if (t.contains("format")) {
    auto s = rd.string_at(t, "log", "format");
    if (!s) return tl::make_unexpected(s.error());
    auto f = parse_log_format(*s);
    if (!f) return tl::make_unexpected(rd.error("log.format", f.error().message));
    config.log_format = *f;
  }
  if (t.contains("level")) {
    auto s = rd.string_at(t, "log", "level");
    if (!s) return tl::make_unexpected(s.error());
    auto l = parse_log_level(*s);
    if (!l) return tl::make_unexpected(rd.error("log.level", l.error().message));
    config.log_level = *l;
  }
  return ok();
}

Result<void> read_audit(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("audit")) return ok();
  const auto& t = root.as_table().at("audit");
  if (auto r = rd.only_keys(t, "audit", {"checkpoint_interval"}); !r) return r;
  if (t.contains("checkpoint_interval")) {
    auto s = rd.string_at(t, "audit", "checkpoint_interval");
    if (!s) return tl::make_unexpected(s.error());
    auto d = parse_duration(*s);
    if (!d) return tl::make_unexpected(rd.error("audit.checkpoint_interval", d.error().message));
    config.audit_checkpoint_interval = *d;
  }
  return ok();
}

Result<void> read_api(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("api")) return ok();
  const auto& t = root.as_table().at("api");
  if (auto r = rd.only_keys(
          t, "api",
          {"listen", "max_body_bytes", "max_connections_per_source", "handshake_timeout"});
      !r) {
    return r;
  }
  if (auto r = rd.listen_key(t, "api", config.api); !r) return r;
  if (t.contains("max_body_bytes")) {
    const auto& v = t.as_table().at("max_body_bytes");
    if (!v.is_integer() || v.as_integer() < 1024 || v.as_integer() > 64 * 1024 * 1024) {
      return tl::make_unexpected(
          rd.error("api.max_body_bytes", "must be an integer from 1024 to 67108864"));
    }
    config.api_max_body_bytes = static_cast<std::size_t>(v.as_integer());
  }
  if (t.contains("max_connections_per_source")) {
    const auto& v = t.as_table().at("max_connections_per_source");
    if (!v.is_integer() || v.as_integer() < 1 || v.as_integer() > 10000) {
      return tl::make_unexpected(
          rd.error("api.max_connections_per_source", "must be an integer from 1 to 10000"));
    }
    config.api_max_connections_per_source = static_cast<std::size_t>(v.as_integer());
  }
  if (t.contains("handshake_timeout")) {
    auto s = rd.string_at(t, "api", "handshake_timeout");
    if (!s) return tl::make_unexpected(s.error());
    auto d = parse_duration(*s);
    if (!d || d->count() < 1 || d->count() > 300) {
      return tl::make_unexpected(
          rd.error("api.handshake_timeout", "must be a duration from 1s to 300s"));
    }
    config.api_handshake_timeout = *d;
  }
  return ok();
}

// [ssh]: the listener and the limits on its session workers.
Result<void> read_ssh(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("ssh")) return ok();
  const auto& t = root.as_table().at("ssh");
  const std::set<std::string> keys{"listen",
                                   "max_sessions",
                                   "max_startups",
                                   "warn_before",
                                   "worker_user",
                                   "recording_queue_bytes",
                                   "per_source_max_startups",
                                   "login_grace_time"};
  if (auto r = rd.only_keys(t, "ssh", keys); !r) return r;
  if (t.contains("worker_user")) {
    auto user = rd.string_at(t, "ssh", "worker_user");
    if (!user) return tl::make_unexpected(user.error());
    if (user->empty() || user->size() > 64) {
      return tl::make_unexpected(rd.error("ssh.worker_user", "must be 1 to 64 characters"));
    }
    config.ssh_limits.worker_user = *user;
  }
  if (auto r = rd.listen_key(t, "ssh", config.ssh); !r) return r;
  for (auto [key, out] :
       {std::pair{"max_sessions", &config.ssh_limits.max_sessions},
        std::pair{"max_startups", &config.ssh_limits.max_startups},
        std::pair{"per_source_max_startups", &config.ssh_limits.per_source_max_startups}}) {
    if (!t.contains(key)) continue;
    const auto& v = t.as_table().at(key);
    if (!v.is_integer() || v.as_integer() < 1 || v.as_integer() > 100000) {
      return tl::make_unexpected(
          rd.error(std::string("ssh.") + key, "must be an integer from 1 to 100000"));
    }
    *out = static_cast<std::size_t>(v.as_integer());
  }
  if (t.contains("recording_queue_bytes")) {
    const auto& v = t.as_table().at("recording_queue_bytes");
    if (!v.is_integer() || v.as_integer() < 1048576 || v.as_integer() > 1073741824) {
      return tl::make_unexpected(
          rd.error("ssh.recording_queue_bytes", "must be an integer from 1048576 to 1073741824"));
    }
    config.ssh_limits.recording_queue_bytes = static_cast<std::size_t>(v.as_integer());
  }
  if (t.contains("warn_before")) {
    auto text = rd.string_at(t, "ssh", "warn_before");
    if (!text) return tl::make_unexpected(text.error());
    auto d = parse_duration(*text);
    if (!d) return tl::make_unexpected(rd.error("ssh.warn_before", d.error().message));
    if (*d > std::chrono::hours(24)) {
      return tl::make_unexpected(rd.error("ssh.warn_before", "must be at most 24h"));
    }
    config.ssh_limits.warn_before = *d;
  }
  if (t.contains("login_grace_time")) {
    auto text = rd.string_at(t, "ssh", "login_grace_time");
    if (!text) return tl::make_unexpected(text.error());
    auto d = parse_duration(*text);
    if (!d) return tl::make_unexpected(rd.error("ssh.login_grace_time", d.error().message));
    if (*d < std::chrono::seconds(1) || *d > std::chrono::minutes(10)) {
      return tl::make_unexpected(rd.error("ssh.login_grace_time", "must be from 1s to 10m"));
    }
    config.ssh_limits.login_grace_time = *d;
  }
  return ok();
}

Result<std::vector<std::string>> string_list(const ConfigReader& rd, const Table& t,
                                             const std::string& key, const std::string& where) {
  const auto& v = t.as_table().at(key);
  if (!v.is_array()) return tl::make_unexpected(rd.error(where, "must be a list of strings"));
  std::vector<std::string> out;
  for (const auto& item : v.as_array()) {
    if (!item.is_string() || item.as_string().str.size() > 1024) {
      return tl::make_unexpected(rd.error(where, "must be a list of strings"));
    }
    out.push_back(item.as_string().str);
  }
  return out;
}

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

Result<std::vector<approval::Selector>> selector_list(const ConfigReader& rd, const Table& t,
                                                      const std::string& key,
                                                      const std::string& where) {
  auto texts = string_list(rd, t, key, where);
  if (!texts) return tl::make_unexpected(texts.error());
  std::vector<approval::Selector> out;
  for (const auto& text : *texts) {
    auto sel = approval::parse_selector(text);
    if (!sel) return tl::make_unexpected(rd.error(where, sel.error().message));
    out.push_back(*sel);
  }
  return out;
}

Result<std::chrono::seconds> duration_key(const ConfigReader& rd, const Table& t,
                                          const std::string& key, const std::string& where) {
  auto s = rd.string_at(t, where.substr(0, where.rfind('.')), key);
  if (!s) return tl::make_unexpected(s.error());
  auto d = parse_duration(*s);
  if (!d) return tl::make_unexpected(rd.error(where, d.error().message));
  return *d;
}

// [[policy]] tables, in order: the first whose hosts cover a host decides for it.
Result<void> read_policy(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("policy")) return ok();
  const auto& list = root.as_table().at("policy");
  if (!list.is_array()) return tl::make_unexpected(rd.error("policy", "must be [[policy]] tables"));
  config.policy.rules.clear();
  std::size_t i = 0;
  for (const auto& t : list.as_array()) {
    const std::string at = "policy[" + std::to_string(i++) + "]";
    if (auto r =
            rd.only_keys(t, at,
                         {"name", "hosts", "requesters", "approvers", "approvals", "max_duration",
                          "modes", "require_ticket", "allow_upload", "allow_download"});
        !r) {
      return r;
    }
    approval::Rule rule;
    for (const char* key : {"name", "hosts", "requesters", "approvers"}) {
      if (!t.contains(key)) return tl::make_unexpected(rd.error(at + "." + key, "required"));
    }
    auto name = rd.string_at(t, at, "name");
    if (!name) return tl::make_unexpected(name.error());
    rule.name = *name;
    auto hosts = string_list(rd, t, "hosts", at + ".hosts");
    if (!hosts) return tl::make_unexpected(hosts.error());
    rule.hosts = *hosts;
    auto requesters = selector_list(rd, t, "requesters", at + ".requesters");
    if (!requesters) return tl::make_unexpected(requesters.error());
    rule.requesters = *requesters;
    auto approvers = selector_list(rd, t, "approvers", at + ".approvers");
    if (!approvers) return tl::make_unexpected(approvers.error());
    rule.approvers = *approvers;
    if (t.contains("approvals")) {
      const auto& v = t.as_table().at("approvals");
      if (!v.is_integer() || v.as_integer() < 1 || v.as_integer() > 16) {
        return tl::make_unexpected(rd.error(at + ".approvals", "must be an integer from 1 to 16"));
      }
      rule.approvals = static_cast<int>(v.as_integer());
    }
    if (t.contains("max_duration")) {
      auto d = duration_key(rd, t, "max_duration", at + ".max_duration");
      if (!d) return tl::make_unexpected(d.error());
      rule.max_duration = *d;
    }
    if (t.contains("modes")) {
      auto modes = string_list(rd, t, "modes", at + ".modes");
      if (!modes) return tl::make_unexpected(modes.error());
      rule.modes.clear();
      for (const auto& m : *modes) {
        auto mode = approval::parse_mode(m);
        if (!mode) return tl::make_unexpected(rd.error(at + ".modes", mode.error().message));
        rule.modes.push_back(*mode);
      }
    }
    for (auto [key, field] : {std::pair{"require_ticket", &approval::Rule::require_ticket},
                              {"allow_upload", &approval::Rule::allow_upload},
                              {"allow_download", &approval::Rule::allow_download}}) {
      if (!t.contains(key)) continue;
      const auto& v = t.as_table().at(key);
      if (!v.is_boolean()) {
        return tl::make_unexpected(rd.error(at + "." + key, "must be true or false"));
      }
      rule.*field = v.as_boolean();
    }
    config.policy.rules.push_back(std::move(rule));
  }
  return ok();
}

Result<void> read_break_glass(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("break_glass")) return ok();
  const auto& t = root.as_table().at("break_glass");
  if (auto r = rd.only_keys(t, "break_glass", {"members", "review_within"}); !r) return r;
  if (t.contains("members")) {
    auto members = selector_list(rd, t, "members", "break_glass.members");
    if (!members) return tl::make_unexpected(members.error());
    config.policy.break_glass_members = *members;
  }
  if (t.contains("review_within")) {
    auto d = duration_key(rd, t, "review_within", "break_glass.review_within");
    if (!d) return tl::make_unexpected(d.error());
    config.policy.break_glass_review_within = *d;
  }
  return ok();
}

Result<void> read_notify(const ConfigReader&, const Table& root, Config& config,
                         const std::string& name) {
  if (!root.contains("notify")) return ok();
  auto webhooks = parse_webhooks(root.as_table().at("notify"), name);
  if (!webhooks) return tl::make_unexpected(webhooks.error());
  config.webhooks = std::move(*webhooks);
  return ok();
}

}  // namespace

std::string ListenAddress::text() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ListenAddress> parse_listen_address(const std::string& text) {
  const auto bad = [&] {
    return fail(ErrorCode::kInvalidArgument,
                "expected \"HOST:PORT\" or \"[IPv6]:PORT\", got \"" + text.substr(0, 64) + "\"");
  };
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad();
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return bad();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty() || host.size() > 253 || port.empty() || port.size() > 5) return bad();
  unsigned long value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad();
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value > 65535) return bad();
  return ListenAddress{host, static_cast<std::uint16_t>(value)};
}

Result<Config> parse_config(const std::string& text, const std::string& name) {
  Table root;
  try {
    std::istringstream in(text);
    root = toml::parse(in, name);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidArgument, name + ": " + one_line(e.what()));
  }
  const ConfigReader rd(name);
  Config config;
  static const std::set<std::string> kSections = {"api",    "ssh",         "rdp",    "directory",
                                                  "log",    "audit",       "auth",   "roles",
                                                  "policy", "break_glass", "notify", "recordings"};
  for (const auto& [key, value] : root.as_table()) {
    if (!kSections.count(key)) return tl::make_unexpected(rd.error(key, "unknown section"));
  }
  for (auto step : {read_api, read_directory, read_roles, read_auth, read_log, read_audit,
                    read_policy, read_break_glass}) {
    if (auto r = step(rd, root, config); !r) return tl::make_unexpected(r.error());
  }
  if (auto r = read_notify(rd, root, config, name); !r) return tl::make_unexpected(r.error());
  if (auto r = approval::validate(config.policy); !r) {
    return tl::make_unexpected(rd.error("policy", r.error().message));
  }
  if (auto r = read_ssh(rd, root, config); !r) return tl::make_unexpected(r.error());
  if (root.contains("recordings")) {
    auto r = read_recordings_table(root.as_table().at("recordings"), name, config.recordings);
    if (!r) return tl::make_unexpected(r.error());
  }
  if (auto r = rd.listen_section(root, "rdp", config.rdp); !r)
    return tl::make_unexpected(r.error());
  return config;
}

Result<Config> load_config(const std::filesystem::path& path) {
  auto text = read_file(path, 1024 * 1024);
  if (!text) return fail(text.error().code, "config: " + text.error().message);
  return parse_config(*text, path.string());
}

}  // namespace sekisho::broker
