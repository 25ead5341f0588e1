// What the readers of the daemon's configuration sections share: config.cpp (the file, the list
// of sections, [log], [audit], [notify]), config_listeners.cpp ([api], [ssh]), config_auth.cpp
// ([directory], [roles], [auth]), config_policy.cpp ([[policy]], [break_glass]) and
// config_rotation.cpp ([rotation], [[rotation.policy]]); config_recordings.cpp reads [recordings]
// on its own. Only those files include this header.
#pragma once

#include <set>
#include <string>
#include <toml.hpp>
#include <vector>

#include "base/result.hpp"
#include "broker/daemon/config.hpp"

namespace sekisho::broker::config_detail {

using Table = toml::basic_value<toml::discard_comments>;

// Reads keys of one file, whose name every error message starts with.
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

// `t.key` as a list of strings (each at most 1024 bytes); `where` names it in the error.
Result<std::vector<std::string>> string_list(const ConfigReader& rd, const Table& t,
                                             const std::string& key, const std::string& where);

// Each reads its section of `root` into `config`; a missing section keeps the defaults. An
// unknown key or a bad value is one error line naming the file, the key and the reason.
Result<void> read_api(const ConfigReader& rd, const Table& root, Config& config);
Result<void> read_ssh(const ConfigReader& rd, const Table& root, Config& config);
Result<void> read_directory(const ConfigReader& rd, const Table& root, Config& config);
Result<void> read_roles(const ConfigReader& rd, const Table& root, Config& config);
Result<void> read_auth(const ConfigReader& rd, const Table& root, Config& config);
Result<void> read_policy(const ConfigReader& rd, const Table& root, Config& config);
Result<void> read_break_glass(const ConfigReader& rd, const Table& root, Config& config);
Result<void> read_rotation(const ConfigReader& rd, const Table& root, Config& config);

}  // namespace sekisho::broker::config_detail
