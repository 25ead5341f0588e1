#include "ssh/login_name.hpp"

#include <algorithm>
#include <string>

#include "base/names.hpp"

namespace sekisho::ssh {

Result<LoginName> parse_login_name(const std::string& name) {
  constexpr const char* kForm =
      "the user name must be ACCOUNT@HOST or USER@ACCOUNT@HOST (for example root@web01)";
  if (name.size() > kMaxLoginName) {
    return fail(
        ErrorCode::kInvalidArgument,
        "the user name is longer than " + std::to_string(kMaxLoginName) + " characters; refused");
  }
  const auto host_at = name.rfind('@');
  if (host_at == std::string::npos || host_at == 0) {
    return fail(ErrorCode::kInvalidArgument, kForm);
  }
  const auto account_at = name.rfind('@', host_at - 1);
  LoginName out;
  if (account_at != std::string::npos) {
    std::string hint = name.substr(0, account_at);
    const bool visible = std::all_of(hint.begin(), hint.end(), [](char c) {
      return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
    });
    if (hint.empty() || hint.size() > 256 || !visible) {
      return fail(ErrorCode::kInvalidArgument, kForm);
    }
    out.gateway_user = std::move(hint);
  }
  const std::size_t target_start = account_at == std::string::npos ? 0 : account_at + 1;
  auto split = split_target(name.substr(target_start));
  if (!split) return fail(ErrorCode::kInvalidArgument, kForm);
  out.account = std::move(split->first);
  out.host = std::move(split->second);
  return out;
}

}  // namespace sekisho::ssh
