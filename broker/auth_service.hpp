// AuthService: logins (directory password, one-time password change, TOTP, throttling) and the
// bearer tokens that every other API call carries.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/result.hpp"
#include "base/secret.hpp"
#include "broker/config.hpp"
#include "broker/login_throttle.hpp"
#include "ldap/directory.hpp"
#include "storage/audit_log.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// The authenticated user behind an API call.
struct Caller {
  std::int64_t user_id = 0;
  std::string name;
  std::string source;  // "local" or "ldap"
  std::vector<std::string> roles;
  Digest token_hash{};
  std::string expires_at;
  bool has_role(const std::string& role) const;
};

struct LoginRequest {
  std::string user;
  Secret password;
  std::optional<std::string> totp;
  std::optional<Secret> new_password;
  std::string source;  // peer address, for throttling and the audit trail
};

struct LoginResult {
  std::string token;  // given to the client once; only its hash is stored
  std::string user;
  std::vector<std::string> roles;
  std::string expires_at;
  bool totp_enrollment_required = false;  // the token may only enrol TOTP
};

// Shortest new password a local user may set.
inline constexpr std::size_t kMinPasswordLength = 12;

class AuthService {
 public:
  // All references must outlive the service. Thread-safe.
  AuthService(storage::Store& store, storage::AuditLog& audit, ldap::Directory& directory,
              const AuthConfig& config, const Clock& clock);

  // Every outcome is an audit event. Errors: kThrottled, kUnauthenticated, kPermissionDenied,
  // kUnavailable, kPasswordChangeRequired, kTotpRequired, kInvalidArgument.
  [[nodiscard]] Result<LoginResult> login(const LoginRequest& request);
  // Resolves "Bearer TOKEN" (the header value) to its caller; kUnauthenticated when missing,
  // unknown, expired, revoked, or the user is disabled.
  [[nodiscard]] Result<Caller> authenticate(std::string_view authorization_header);
  [[nodiscard]] Result<void> logout(const Caller& caller);

 private:
  Result<void> refuse(const LoginRequest& request, const Error& error, const std::string& reason);
  Result<std::int64_t> user_row(const ldap::Identity& identity);
  Result<void> check_totp(const LoginRequest& request, std::int64_t user_id, bool& enrolled);
  Result<void> change_password(const LoginRequest& request, std::int64_t user_id);
  Result<LoginResult> issue_token(const LoginRequest& request, std::int64_t user_id,
                                  const ldap::Identity& identity, bool enrollment_only);

  storage::Store& store_;
  storage::AuditLog& audit_;
  ldap::Directory& directory_;
  AuthConfig config_;
  const Clock& clock_;
  LoginThrottle throttle_;
  // TOTP codes accepted recently, per user: a code works once (kept in memory for the ~90 s a
  // code stays valid with a ±1 step window).
  bool spend_totp_code(std::int64_t user_id, const std::string& code);
  std::mutex totp_mu_;
  std::map<std::int64_t, std::vector<std::pair<std::string, TimePoint>>> used_totp_;
};

}  // namespace sekisho::broker
