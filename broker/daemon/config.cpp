// The daemon's configuration file: its sections in the order they are read, and the small
// daemon-wide ones ([log], [audit], [notify]). The other sections have files of their own
// (config_reader.hpp lists them).
#include "broker/daemon/config.hpp"

#include <set>
#include <sstream>
#include <toml.hpp>

#include "base/clock.hpp"
#include "base/files.hpp"
#include "broker/access/notifier.hpp"
#include "broker/daemon/config_reader.hpp"
#include "broker/daemon/config_recordings.hpp"

namespace sekisho::broker {

namespace config_detail {

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

}  // namespace config_detail

namespace {

using namespace config_detail;

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
  static const std::set<std::string> kSections = {
      "api",   "ssh",    "rdp",         "directory", "log",        "audit",   "auth",
      "roles", "policy", "break_glass", "notify",    "recordings", "rotation"};
  for (const auto& [key, value] : root.as_table()) {
    if (!kSections.count(key)) return tl::make_unexpected(rd.error(key, "unknown section"));
  }
  for (auto step : {read_api, read_directory, read_roles, read_auth, read_log, read_audit,
                    read_policy, read_break_glass, read_rotation}) {
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
