// AuthService: the proof an enrolled TOTP factor must give before it is replaced (kept apart from
// the logins in auth_service.cpp; it shares their throttle and replay guard).
#include "broker/auth/auth_service.hpp"
#include "ldap/totp.hpp"
#include "storage/users.hpp"

namespace sekisho::broker {

Result<void> AuthService::check_current_totp(const Caller& caller,
                                             const std::optional<std::string>& code,
                                             const std::string& source) {
  std::optional<Secret> secret;
  auto read = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto s = storage::totp_secret(tx, caller.user_id, false);
    if (!s) return tl::make_unexpected(s.error());
    secret = std::move(*s);
    return ok();
  });
  if (!read) return read;
  if (!secret) return ok();
  const auto refuse_enrol = [&](const Error& error, const char* reason) -> Result<void> {
    auto seq = audit_.append({caller.name,
                              "totp.enroll_refused",
                              caller.name,
                              {{"reason", reason}, {"source", source}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return tl::make_unexpected(error);
  };
  if (throttle_.locked(caller.name, source)) {
    return refuse_enrol({ErrorCode::kThrottled, "too many failed logins; try again later"},
                        "throttled");
  }
  if (!code || code->empty()) {
    return refuse_enrol({ErrorCode::kPermissionDenied,
                         "TOTP is already enrolled: replacing it needs the current code (sekisho "
                         "totp enroll --current-code CODE)"},
                        "current_code_missing");
  }
  if (!ldap::totp_verify(*secret, *code, clock_.now())) {
    if (throttle_.record_failure(caller.name, source)) {
      auto seq = audit_.append(
          {caller.name,
           "login.lockout",
           caller.name,
           {{"source", source}, {"lockout_seconds", config_.throttle.lockout.count()}}});
      if (!seq) return tl::make_unexpected(seq.error());
    }
    return refuse_enrol(
        {ErrorCode::kPermissionDenied, "wrong current TOTP code; the enrolled TOTP is unchanged"},
        "current_code_wrong");
  }
  if (!spend_totp_code(caller.user_id, *code)) {
    return refuse_enrol(
        {ErrorCode::kPermissionDenied, "this TOTP code was already used; wait for the next one"},
        "current_code_replayed");
  }
  return ok();
}

}  // namespace sekisho::broker
