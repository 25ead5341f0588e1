// Names of hosts and accounts as the store keeps them and the SSH login name carries them. Pure
// checks, here in base so that the session worker (which links no store) applies the same rules.
#pragma once

#include <string>
#include <utility>

#include "base/result.hpp"

namespace sekisho {

// Host names: 1-64 of [A-Za-z0-9._-], starting with a letter or digit.
[[nodiscard]] Result<void> check_host_name(const std::string& name);
// Account names: 1-64 of [A-Za-z0-9._-] (root, Administrator, svc-backup…).
[[nodiscard]] Result<void> check_account_name(const std::string& name);

// Splits "ACCOUNT@HOST" at its last '@' (host names have none; account names neither) and checks
// both names as above.
[[nodiscard]] Result<std::pair<std::string, std::string>> split_target(const std::string& target);

}  // namespace sekisho
