#include "base/names.hpp"

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

}  // namespace sekisho
