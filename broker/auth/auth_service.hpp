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
#include "broker/auth/login_throttle.hpp"
#include "broker/daemon/config.hpp"
#include "ldap/directory.hpp"
#include "ldap/local_directory.hpp"
#include "storage/api_tokens.hpp"
#include "storage/audit_log.hpp"
#include "storage/store.hpp"
#include "storage/user_access.hpp"

namespace sekisho::broker {

// The authenticated user behind an API call.
struct Caller {
  std::int64_t user_id = 0;
  std::string name;
  std::string source;  // "local" or "ldap"
  std::vector<std::string> roles;
  Digest token_hash{};
  std::string expires_at;
  storage::TokenScope scope = storage::TokenScope::kFull;  // fixed when the token was issued
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

// What a good password (or a registered key) tells the SSH gateway's login.
struct PasswordLogin {
  std::int64_t user_id = 0;
  std::string login;                      // the name as typed: the throttle's key
  std::string user;                       // the directory's name for the user
  bool totp_enrolled = false;             // a TOTP code must follow
  bool must_change_password = false;      // a one-time password: set a new one with sekisho login
  bool totp_enrollment_required = false;  // a role requires TOTP and none is enrolled
};

// Why a step of the gateway login failed: the user-facing error (the API's wording) and the reason
// for the audit trail.
struct LoginRefusal {
  Error error;
  std::string reason;
  std::string user;  // the user refused, when known (the audit event's actor)
};
template <typename T>
using LoginStep = tl::expected<T, LoginRefusal>;

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
  // Proves that `caller` holds their enrolled TOTP factor before it is replaced: `code` must be a
  // current code of the enrolled secret, not used before (it is spent here, like a login code).
  // A user with no enrolled factor passes whatever `code` is. A refusal is audited
  // (totp.enroll_refused with reason current_code_missing, current_code_wrong,
  // current_code_replayed or throttled) and, when the code was wrong, counts towards the login
  // throttle of the user and of `source`, so the API cannot be used to guess codes. Errors:
  // kPermissionDenied, kThrottled. Thread-safe.
  [[nodiscard]] Result<void> check_current_totp(const Caller& caller,
                                                const std::optional<std::string>& code,
                                                const std::string& source);

  // The SSH gateway's login in the steps its prompts take: the same directory, throttle (per user
  // name and per source address) and TOTP replay guard as login(). Failures count towards the
  // throttle and a lockout is audited (login.lockout); the caller audits the outcome itself
  // (ssh.login). A completed login clears the user's failures. Thread-safe.
  [[nodiscard]] LoginStep<PasswordLogin> gateway_password(const std::string& user,
                                                          const Secret& password,
                                                          const std::string& source);
  // The account check of a key login, for the registered key `fingerprint` (a key nobody holds
  // passes with user_id 0: the caller refuses it as unregistered). Refused: the owner is disabled
  // in the gateway ("user_disabled"); an LDAP owner the directory marks disabled or departed
  // ("disabled_or_departed") or no longer has ("not_in_directory"); an LDAP owner while the
  // directory cannot be reached ("directory_unavailable": fail closed; local users, such as
  // break-glass accounts, never ask the directory). Passed: the owner, with totp_enrolled (a
  // code must follow the key) and totp_enrollment_required (a role requires TOTP and none is
  // enrolled: the caller refuses); must_change_password is never set (a key is no password).
  // Blocking (one directory lookup); thread-safe.
  [[nodiscard]] LoginStep<PasswordLogin> gateway_key(const std::string& fingerprint);
  // The TOTP step, only after gateway_password or gateway_key said totp_enrolled.
  [[nodiscard]] LoginStep<void> gateway_totp(const PasswordLogin& login, const std::string& code,
                                             const std::string& source);

 private:
  Result<void> refuse(const LoginRequest& request, const Error& error, const std::string& reason);
  tl::unexpected<LoginRefusal> refuse_gateway(const std::string& user, const std::string& source,
                                              Error error, std::string reason);
  bool totp_required_for(const ldap::Identity& identity) const;
  // What the key of `owner` (checked as a current account) still needs: the TOTP state.
  LoginStep<PasswordLogin> key_login(const storage::AccessHolder& owner,
                                     const ldap::Identity& identity);
  // The directory that checks `user`'s password: the store for a local user even when the
  // directory is LDAP (local accounts such as break-glass ones still get in when LDAP is down),
  // the configured directory for everyone else.
  ldap::Directory& directory_for(const std::string& user);
  Result<std::int64_t> user_row(const ldap::Identity& identity);
  Result<void> check_totp(const LoginRequest& request, std::int64_t user_id, bool& enrolled);
  Result<void> change_password(const LoginRequest& request, std::int64_t user_id);
  Result<LoginResult> issue_token(const LoginRequest& request, std::int64_t user_id,
                                  const ldap::Identity& identity, bool enrollment_only);

  storage::Store& store_;
  storage::AuditLog& audit_;
  ldap::Directory& directory_;
  ldap::LocalDirectory local_directory_;
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
