// [[policy]] and [break_glass] of the daemon's configuration: who may request which hosts, who
// approves, how many approvals, for how long, and who may open a session without approval.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "broker/daemon/config_reader.hpp"

namespace sekisho::broker::config_detail {

namespace {

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

// A rule's optional keys: approvals (1 to 16), max_duration, modes, and its three flags.
Result<void> read_rule_limits(const ConfigReader& rd, const Table& t, const std::string& at,
                              approval::Rule& rule) {
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
  return ok();
}

// One [[policy]] table, `at` naming it in errors ("policy[2]").
Result<approval::Rule> read_rule(const ConfigReader& rd, const Table& t, const std::string& at) {
  if (auto r =
          rd.only_keys(t, at,
                       {"name", "hosts", "requesters", "approvers", "approvals", "max_duration",
                        "modes", "require_ticket", "allow_upload", "allow_download"});
      !r) {
    return tl::make_unexpected(r.error());
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
  if (auto r = read_rule_limits(rd, t, at, rule); !r) return tl::make_unexpected(r.error());
  return rule;
}

}  // namespace

// [[policy]] tables, in order: the first whose hosts cover a host decides for it.
Result<void> read_policy(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("policy")) return ok();
  const auto& list = root.as_table().at("policy");
  if (!list.is_array()) return tl::make_unexpected(rd.error("policy", "must be [[policy]] tables"));
  config.policy.rules.clear();
  std::size_t i = 0;
  for (const auto& t : list.as_array()) {
    auto rule = read_rule(rd, t, "policy[" + std::to_string(i++) + "]");
    if (!rule) return tl::make_unexpected(rule.error());
    config.policy.rules.push_back(std::move(*rule));
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

}  // namespace sekisho::broker::config_detail
