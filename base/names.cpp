#include "base/names.hpp"

#include <utility>

namespace sekisho {

namespace {

bool name_chars_ok(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return name[0] != '.' && name[0] != '-';
}

}  // namespace

Result<void> check_host_name(const std::string& name) {
  if (!name_chars_ok(name)) {
    return fail(ErrorCode::kInvalidArgument,
                "host name must be 1-64 characters of letters, digits, '.', '_' or '-'");
  }
  return ok();
}

Result<void> check_account_name(const std::string& name) {
  if (!name_chars_ok(name)) {
    return fail(ErrorCode::kInvalidArgument,
                "account name must be 1-64 characters of letters, digits, '.', '_' or '-'");
  }
  return ok();
}

Result<std::pair<std::string, std::string>> split_target(const std::string& target) {
  const auto at = target.rfind('@');
  if (target.size() > 200 || at == std::string::npos || at == 0 || at + 1 == target.size()) {
    return fail(ErrorCode::kInvalidArgument,
                "target must be ACCOUNT@HOST, like root@web01: '" + target.substr(0, 64) + "'");
  }
  std::string account = target.substr(0, at);
  std::string host = target.substr(at + 1);
  if (auto r = check_account_name(account); !r) return tl::make_unexpected(r.error());
  if (auto r = check_host_name(host); !r) return tl::make_unexpected(r.error());
  return std::make_pair(std::move(account), std::move(host));
}

}  // namespace sekisho
