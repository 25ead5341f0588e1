// The user name an SSH client gives the gateway: `ACCOUNT@HOST` (the key or the prompts say who
// the gateway user is) or `GATEWAYUSER@ACCOUNT@HOST` (a gateway-user hint: no user prompt, and
// a key must belong to that user). Parsed alike by the worker (to choose its prompts) and by the
// core (which trusts nothing the worker says).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "base/names.hpp"
#include "base/result.hpp"

namespace sekisho::ssh {

struct LoginName {
  std::optional<std::string> gateway_user;  // the hint, when given
  std::string account;
  std::string host;
  std::string target() const { return account + "@" + host; }
};

// Longest SSH user name accepted (hint + target): the one limit for login names on every path
// (worker and core, publickey and keyboard-interactive). A longer name is refused, never cut.
inline constexpr std::size_t kMaxLoginName = 400;

// Splits at the last two '@': host and account follow split_target's rules (base/names.hpp);
// whatever precedes them is the hint (a directory name may itself hold '@'), 1-256 visible
// characters. A name over kMaxLoginName is refused for its length alone ("the user name is longer
// than 400 characters; refused"). Pure.
[[nodiscard]] Result<LoginName> parse_login_name(const std::string& name);

}  // namespace sekisho::ssh
