// Access policy: which hosts a rule covers, who may request access to them, who approves, how
// many approvals, the longest window and the allowed modes (DESIGN.md "Access model").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace sekisho::approval {

enum class Mode { kSession, kCheckout };
std::string to_string(Mode mode);
[[nodiscard]] Result<Mode> parse_mode(const std::string& text);

// A person as the approval rules see them. `directory_entry` names the directory record behind
// the gateway account (an LDAP DN, or "local:NAME"): two gateway accounts with the same entry
// are one person, so neither may approve the other's request.
struct Person {
  std::int64_t user_id = 0;
  std::string name;
  std::string directory_entry;
  std::vector<std::string> roles;
  std::vector<std::string> groups;  // directory group DNs (LDAP); empty for local users
  bool same_person(const Person& other) const;
};

// "role:R", "group:G" (a directory group DN, compared case-insensitively) or "user:U".
struct Selector {
  enum class Kind { kRole, kGroup, kUser } kind = Kind::kRole;
  std::string value;
  bool matches(const Person& person) const;
};
[[nodiscard]] Result<Selector> parse_selector(const std::string& text);
bool any_matches(const std::vector<Selector>& selectors, const Person& person);

// A host as the policy sees it.
struct HostRef {
  std::string name;
  std::string group;  // "" when the host is in no group
};

struct Rule {
  std::string name;
  // Host names, shell globs (`web*`), or "group:NAME".
  std::vector<std::string> hosts;
  std::vector<Selector> requesters;
  std::vector<Selector> approvers;
  int approvals = 1;
  std::chrono::seconds max_duration{8 * 3600};
  std::vector<Mode> modes{Mode::kSession, Mode::kCheckout};
  bool require_ticket = false;
  // File transfers (SFTP, scp) in sessions granted under this rule, per direction.
  bool allow_upload = true;
  bool allow_download = true;

  bool covers(const HostRef& host) const;
  bool allows(Mode mode) const;
};

struct Policy {
  // The first rule that covers a host decides for it.
  std::vector<Rule> rules;
  std::vector<Selector> break_glass_members;
  // A break-glass request not reviewed within this time is reported as overdue to approvers.
  std::chrono::seconds break_glass_review_within{3600};

  const Rule* rule_for(const HostRef& host) const;
  bool is_break_glass_member(const Person& person) const;
};

// The policy of the embedded default: every host, requesters request, one approver approves.
Policy default_policy();

// Checks what the parser cannot: approvals >= 1, a positive max_duration, at least one host
// pattern, requester and approver, unique rule names. Errors name the rule and the key.
[[nodiscard]] Result<void> validate(const Policy& policy);

}  // namespace sekisho::approval
