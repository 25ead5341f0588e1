#include "approval/policy.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <set>

namespace sekisho::approval {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

std::string to_string(Mode mode) { return mode == Mode::kSession ? "session" : "checkout"; }

Result<Mode> parse_mode(const std::string& text) {
  if (text == "session") return Mode::kSession;
  if (text == "checkout") return Mode::kCheckout;
  return fail(ErrorCode::kInvalidArgument,
              "mode must be session or checkout, not '" + text.substr(0, 32) + "'");
}

bool Person::same_person(const Person& other) const {
  if (user_id != 0 && user_id == other.user_id) return true;
  // DNs compare case-insensitively (LDAP attribute names and most values do).
  return !directory_entry.empty() && lower(directory_entry) == lower(other.directory_entry);
}

bool Selector::matches(const Person& person) const {
  switch (kind) {
    case Kind::kRole:
      return contains(person.roles, value);
    case Kind::kUser:
      return person.name == value;
    case Kind::kGroup:
      return std::any_of(person.groups.begin(), person.groups.end(),
                         [&](const std::string& g) { return lower(g) == lower(value); });
  }
  return false;
}

Result<Selector> parse_selector(const std::string& text) {
  const auto colon = text.find(':');
  const std::string kind = colon == std::string::npos ? "" : text.substr(0, colon);
  const std::string value = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (value.empty() || value.size() > 512) {
    return fail(ErrorCode::kInvalidArgument,
                "'" + text.substr(0, 64) + "' is not role:NAME, group:DN or user:NAME");
  }
  if (kind == "role") {
    static const std::set<std::string> kRoles{"requester", "approver", "auditor", "operator"};
    if (!kRoles.contains(value)) {
      return fail(ErrorCode::kInvalidArgument,
                  "unknown role '" + value + "' (requester, approver, auditor, operator)");
    }
    return Selector{Selector::Kind::kRole, value};
  }
  if (kind == "group") return Selector{Selector::Kind::kGroup, value};
  if (kind == "user") return Selector{Selector::Kind::kUser, value};
  return fail(ErrorCode::kInvalidArgument,
              "'" + text.substr(0, 64) + "' is not role:NAME, group:DN or user:NAME");
}

bool any_matches(const std::vector<Selector>& selectors, const Person& person) {
  return std::any_of(selectors.begin(), selectors.end(),
                     [&](const Selector& s) { return s.matches(person); });
}

bool Rule::covers(const HostRef& host) const {
  for (const auto& pattern : hosts) {
    if (pattern.starts_with("group:")) {
      if (!host.group.empty() && pattern.substr(6) == host.group) return true;
    } else if (fnmatch(pattern.c_str(), host.name.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

bool Rule::allows(Mode mode) const {
  return std::find(modes.begin(), modes.end(), mode) != modes.end();
}

const Rule* Policy::rule_for(const HostRef& host) const {
  for (const auto& rule : rules) {
    if (rule.covers(host)) return &rule;
  }
  return nullptr;
}

bool Policy::is_break_glass_member(const Person& person) const {
  return any_matches(break_glass_members, person);
}

Policy default_policy() {
  Policy policy;
  Rule rule;
  rule.name = "default";
  rule.hosts = {"*"};
  rule.requesters = {{Selector::Kind::kRole, "requester"}};
  rule.approvers = {{Selector::Kind::kRole, "approver"}};
  policy.rules.push_back(std::move(rule));
  return policy;
}

Result<void> validate(const Policy& policy) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < policy.rules.size(); ++i) {
    const Rule& r = policy.rules[i];
    const std::string where = "policy[" + std::to_string(i) + "] (" + r.name + ")";
    if (r.name.empty()) return fail(ErrorCode::kInvalidArgument, where + ".name: required");
    if (!names.insert(r.name).second) {
      return fail(ErrorCode::kInvalidArgument, where + ".name: used by an earlier policy");
    }
    if (r.hosts.empty()) return fail(ErrorCode::kInvalidArgument, where + ".hosts: empty");
    if (r.requesters.empty()) {
      return fail(ErrorCode::kInvalidArgument, where + ".requesters: empty");
    }
    if (r.approvers.empty()) return fail(ErrorCode::kInvalidArgument, where + ".approvers: empty");
    if (r.approvals < 1 || r.approvals > 16) {
      return fail(ErrorCode::kInvalidArgument, where + ".approvals: must be 1 to 16");
    }
    if (r.max_duration.count() <= 0) {
      return fail(ErrorCode::kInvalidArgument, where + ".max_duration: must be positive");
    }
    if (r.modes.empty()) return fail(ErrorCode::kInvalidArgument, where + ".modes: empty");
  }
  return ok();
}

}  // namespace sekisho::approval
