#include "broker/auth/auth_service.hpp"

#include <algorithm>

#include "base/logging.hpp"
#include "base/password_hash.hpp"
#include "ldap/totp.hpp"
#include "storage/api_tokens.hpp"
#include "storage/requests.hpp"
#include "storage/user_access.hpp"
#include "storage/users.hpp"

namespace sekisho::broker {

namespace {

constexpr std::size_t kTokenBytes = 32;
constexpr std::size_t kTokenChars = 43;  // base64url of 32 bytes, unpadded

Result<void> check_login_name(const std::string& user) {
  const bool ok_length = !user.empty() && user.size() <= 256;
  const bool ok_chars = std::all_of(user.begin(), user.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
  });
  if (!ok_length || !ok_chars) {
    return fail(ErrorCode::kInvalidArgument, "user name must be 1-256 visible characters");
  }
  return ok();
}

std::string role_list(const std::vector<std::string>& roles) {
  std::string out;
  for (const auto& r : roles) out += (out.empty() ? "" : ",") + r;
  return out;
}

}  // namespace

bool Caller::has_role(const std::string& role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

AuthService::AuthService(storage::Store& store, storage::AuditLog& audit,
                         ldap::Directory& directory, const AuthConfig& config, const Clock& clock)
    : store_(store),
      audit_(audit),
      directory_(directory),
      local_directory_(store),
      config_(config),
      clock_(clock),
      throttle_(config.throttle, clock) {}

Result<void> AuthService::refuse(const LoginRequest& request, const Error& error,
                                 const std::string& reason) {
  const bool counts =
      error.code == ErrorCode::kUnauthenticated || error.code == ErrorCode::kPermissionDenied;
  const bool lockout = counts && throttle_.record_failure(request.user, request.source);
  auto seq = audit_.append({request.user,
                            "login.failure",
                            request.user,
                            {{"reason", reason}, {"source", request.source}}});
  if (lockout) {
    seq = audit_.append(
        {request.user,
         "login.lockout",
         request.user,
         {{"source", request.source}, {"lockout_seconds", config_.throttle.lockout.count()}}});
  }
  if (!seq) return tl::make_unexpected(seq.error());
  return tl::make_unexpected(error);
}

Result<std::int64_t> AuthService::user_row(const ldap::Identity& identity) {
  std::int64_t id = 0;
  auto r = store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (identity.source == "local") {
      auto found = storage::find_user(tx, identity.name);
      if (!found) return tl::make_unexpected(found.error());
      if (!found->has_value())
        return fail(ErrorCode::kUnauthenticated, "wrong user name or password");
      id = (*found)->id;
      return ok();
    }
    auto ensured = storage::ensure_directory_user(tx, identity.name, format_time(clock_.now()));
    if (!ensured) return tl::make_unexpected(ensured.error());
    id = *ensured;
    // Approval rules compare directory entries (one person, two accounts) and match groups.
    if (auto p = storage::set_directory_profile(tx, id, {identity.dn, identity.groups}); !p) {
      return p;
    }
    auto found = storage::find_user(tx, identity.name);
    if (!found) return tl::make_unexpected(found.error());
    if (found->has_value() && (*found)->disabled) {
      return fail(ErrorCode::kPermissionDenied,
                  "user " + identity.name + " is disabled in the gateway");
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return id;
}

Result<void> AuthService::check_totp(const LoginRequest& request, std::int64_t user_id,
                                     bool& enrolled) {
  std::optional<Secret> secret;
  auto r = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto s = storage::totp_secret(tx, user_id, false);
    if (!s) return tl::make_unexpected(s.error());
    secret = std::move(*s);
    return ok();
  });
  if (!r) return r;
  enrolled = secret.has_value();
  if (!enrolled) return ok();
  if (!request.totp || request.totp->empty()) {
    return refuse(request, {ErrorCode::kTotpRequired, "a TOTP code is required (--totp CODE)"},
                  "totp_missing");
  }
  if (!ldap::totp_verify(*secret, *request.totp, clock_.now())) {
    return refuse(request, {ErrorCode::kUnauthenticated, "wrong TOTP code"}, "totp_wrong");
  }
  if (!spend_totp_code(user_id, *request.totp)) {
    return refuse(
        request,
        {ErrorCode::kUnauthenticated, "this TOTP code was already used; wait for the next one"},
        "totp_replayed");
  }
  return ok();
}

bool AuthService::spend_totp_code(std::int64_t user_id, const std::string& code) {
  constexpr auto kValidFor = std::chrono::seconds(90);
  std::lock_guard lock(totp_mu_);
  const TimePoint now = clock_.now();
  auto& used = used_totp_[user_id];
  used.erase(std::remove_if(used.begin(), used.end(),
                            [&](const auto& u) { return now - u.second > kValidFor; }),
             used.end());
  for (const auto& u : used) {
    if (u.first == code) return false;
  }
  used.emplace_back(code, now);
  return true;
}

Result<void> AuthService::change_password(const LoginRequest& request, std::int64_t user_id) {
  if (!request.new_password) {
    auto seq = audit_.append({request.user,
                              "login.password_change_required",
                              request.user,
                              {{"source", request.source}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return fail(ErrorCode::kPasswordChangeRequired,
                "this is a one-time password: a new password is required");
  }
  if (request.new_password->size() < kMinPasswordLength || request.new_password->size() > 1024) {
    return fail(ErrorCode::kInvalidArgument, "the new password must be 12 to 1024 characters");
  }
  if (request.new_password->equals(request.password)) {
    return fail(ErrorCode::kInvalidArgument,
                "the new password must differ from the one-time password");
  }
  auto hash = hash_password(*request.new_password);
  if (!hash) return tl::make_unexpected(hash.error());
  return store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (auto e = storage::set_password_hash(tx, user_id, *hash, false); !e) return e;
    if (auto e = storage::revoke_user_tokens(tx, user_id); !e) return e;
    auto seq = audit_.append(tx, {request.user,
                                  "user.password_change",
                                  request.user,
                                  {{"source", request.source}, {"reason", "one-time password"}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
}

Result<LoginResult> AuthService::issue_token(const LoginRequest& request, std::int64_t user_id,
                                             const ldap::Identity& identity, bool enrollment_only) {
  const Secret raw = random_secret(kTokenBytes);
  LoginResult result;
  result.token = base64url_encode(raw.bytes());
  result.user = identity.name;
  result.roles = enrollment_only ? std::vector<std::string>{} : identity.roles;
  result.expires_at = format_time(clock_.now() + config_.token_ttl);
  result.totp_enrollment_required = enrollment_only;
  const Digest hash = sha256(as_bytes(result.token));
  auto r = store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    const auto scope =
        enrollment_only ? storage::TokenScope::kTotpEnrollment : storage::TokenScope::kFull;
    if (auto e = storage::insert_token(tx, hash, user_id, result.roles, scope, identity.source,
                                       format_time(clock_.now()), result.expires_at);
        !e) {
      return e;
    }
    auto seq = audit_.append(tx, {identity.name,
                                  "login.success",
                                  identity.name,
                                  {{"source", request.source},
                                   {"directory", identity.source},
                                   {"roles", role_list(result.roles)},
                                   {"token", hex_encode(ByteView(hash.data(), 4))},
                                   {"totp_enrollment_only", enrollment_only}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  throttle_.record_success(request.user);
  return result;
}

Result<LoginResult> AuthService::login(const LoginRequest& request) {
  if (auto r = check_login_name(request.user); !r) return tl::make_unexpected(r.error());
  if (throttle_.locked(request.user, request.source)) {
    auto seq = audit_.append(
        {request.user, "login.throttled", request.user, {{"source", request.source}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return fail(ErrorCode::kThrottled, "too many failed logins; try again later");
  }
  if (request.password.empty()) {
    auto r = refuse(request, {ErrorCode::kUnauthenticated, "wrong user name or password"},
                    "empty_password");
    return tl::make_unexpected(r.error());
  }
  auto identity = directory_for(request.user).authenticate(request.user, request.password);
  if (!identity) {
    const auto code = identity.error().code;
    const std::string reason = code == ErrorCode::kUnavailable        ? "directory_unavailable"
                               : code == ErrorCode::kPermissionDenied ? "disabled_or_departed"
                                                                      : "wrong_password";
    if (code == ErrorCode::kUnavailable) {
      module_logger("auth")->error("login for {}: {}", request.user, identity.error().message);
    }
    auto r = refuse(request, identity.error(), reason);
    return tl::make_unexpected(r.error());
  }
  auto user_id = user_row(*identity);
  if (!user_id) {
    auto r = refuse(request, user_id.error(), "disabled_in_gateway");
    return tl::make_unexpected(r.error());
  }
  bool enrolled = false;
  if (auto r = check_totp(request, *user_id, enrolled); !r) return tl::make_unexpected(r.error());
  if (identity->must_change_password) {
    if (auto r = change_password(request, *user_id); !r) return tl::make_unexpected(r.error());
  }
  const bool totp_needed =
      !enrolled &&
      std::any_of(identity->roles.begin(), identity->roles.end(), [&](const auto& role) {
        return std::find(config_.require_totp_for.begin(), config_.require_totp_for.end(), role) !=
               config_.require_totp_for.end();
      });
  return issue_token(request, *user_id, *identity, totp_needed);
}

ldap::Directory& AuthService::directory_for(const std::string& user) {
  if (dynamic_cast<ldap::LocalDirectory*>(&directory_) != nullptr) return directory_;
  bool local = false;
  auto read = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto found = storage::find_user(tx, user);
    if (!found) return tl::make_unexpected(found.error());
    local = found->has_value() && (*found)->source == "local";
    return ok();
  });
  // A store error leaves the name to the configured directory, which refuses or admits it itself.
  return read && local ? static_cast<ldap::Directory&>(local_directory_) : directory_;
}

bool AuthService::totp_required_for(const ldap::Identity& identity) const {
  return std::any_of(identity.roles.begin(), identity.roles.end(), [&](const auto& role) {
    return std::find(config_.require_totp_for.begin(), config_.require_totp_for.end(), role) !=
           config_.require_totp_for.end();
  });
}

tl::unexpected<LoginRefusal> AuthService::refuse_gateway(const std::string& user,
                                                         const std::string& source, Error error,
                                                         std::string reason) {
  const bool counts =
      error.code == ErrorCode::kUnauthenticated || error.code == ErrorCode::kPermissionDenied;
  if (counts && throttle_.record_failure(user, source)) {
    auto seq = audit_.append(
        {user,
         "login.lockout",
         user,
         {{"source", source}, {"lockout_seconds", config_.throttle.lockout.count()}}});
    if (!seq) module_logger("auth")->error("audit login.lockout failed: {}", seq.error().message);
  }
  return tl::make_unexpected(LoginRefusal{std::move(error), std::move(reason), user});
}

LoginStep<PasswordLogin> AuthService::gateway_password(const std::string& user,
                                                       const Secret& password,
                                                       const std::string& source) {
  if (auto r = check_login_name(user); !r) {
    return tl::make_unexpected(LoginRefusal{r.error(), "bad_user_name", {}});
  }
  if (throttle_.locked(user, source)) {
    return tl::make_unexpected(LoginRefusal{
        {ErrorCode::kThrottled, "too many failed logins; try again later"}, "throttled", user});
  }
  if (password.empty()) {
    return refuse_gateway(user, source,
                          {ErrorCode::kUnauthenticated, "wrong user name or password"},
                          "empty_password");
  }
  auto identity = directory_for(user).authenticate(user, password);
  if (!identity) {
    const auto code = identity.error().code;
    if (code == ErrorCode::kUnavailable) {
      module_logger("auth")->error("ssh login for {}: {}", user, identity.error().message);
    }
    return refuse_gateway(user, source, identity.error(),
                          code == ErrorCode::kUnavailable        ? "directory_unavailable"
                          : code == ErrorCode::kPermissionDenied ? "disabled_or_departed"
                                                                 : "wrong_password");
  }
  auto user_id = user_row(*identity);
  if (!user_id) return refuse_gateway(user, source, user_id.error(), "disabled_in_gateway");
  std::optional<Secret> secret;
  auto read = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto s = storage::totp_secret(tx, *user_id, false);
    if (!s) return tl::make_unexpected(s.error());
    secret = std::move(*s);
    return ok();
  });
  if (!read) return tl::make_unexpected(LoginRefusal{read.error(), "store_error", user});
  PasswordLogin out;
  out.user_id = *user_id;
  out.login = user;
  out.user = identity->name;
  out.totp_enrolled = secret.has_value();
  out.must_change_password = identity->must_change_password;
  out.totp_enrollment_required = !out.totp_enrolled && totp_required_for(*identity);
  if (!out.totp_enrolled && !out.must_change_password && !out.totp_enrollment_required) {
    throttle_.record_success(user);
  }
  return out;
}

LoginStep<PasswordLogin> AuthService::gateway_key(const std::string& fingerprint) {
  std::optional<storage::AccessHolder> owner;
  auto read = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto o = storage::find_key_owner(tx, fingerprint);
    if (!o) return tl::make_unexpected(o.error());
    owner = std::move(*o);
    return ok();
  });
  if (!read) return tl::make_unexpected(LoginRefusal{read.error(), "store_error", "unknown"});
  if (!owner) return PasswordLogin{};
  const auto refused = [&](ErrorCode code, std::string message, std::string reason) {
    return tl::make_unexpected(
        LoginRefusal{{code, std::move(message)}, std::move(reason), owner->name});
  };
  if (owner->disabled) {
    return refused(ErrorCode::kPermissionDenied,
                   "user " + owner->name + " is disabled in the gateway", "user_disabled");
  }
  // Local owners' roles come from the store, never from an LDAP directory that may be down.
  auto identity = owner->source == "ldap" ? directory_.lookup(owner->name)
                                          : local_directory_.lookup(owner->name);
  if (!identity) {
    const auto code = identity.error().code;
    if (code == ErrorCode::kNotFound && owner->source == "ldap") {
      return refused(ErrorCode::kPermissionDenied,
                     "user " + owner->name + " is not in the directory", "not_in_directory");
    }
    module_logger("auth")->error("ssh key login for {}: {}", owner->name, identity.error().message);
    if (owner->source != "ldap") {
      return refused(ErrorCode::kInternal, "the gateway cannot read user " + owner->name,
                     "store_error");
    }
    return refused(ErrorCode::kUnavailable,
                   "the directory cannot be reached: new logins are refused until it answers",
                   "directory_unavailable");
  }
  if (identity->status != ldap::StaffStatus::kActive) {
    const char* word = identity->status == ldap::StaffStatus::kDeparted ? "departed" : "disabled";
    return refused(ErrorCode::kPermissionDenied, "user " + owner->name + " is " + word,
                   "disabled_or_departed");
  }
  return key_login(*owner, *identity);
}

LoginStep<PasswordLogin> AuthService::key_login(const storage::AccessHolder& owner,
                                                const ldap::Identity& identity) {
  std::optional<Secret> secret;
  auto read = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto s = storage::totp_secret(tx, owner.id, false);
    if (!s) return tl::make_unexpected(s.error());
    secret = std::move(*s);
    return ok();
  });
  if (!read) return tl::make_unexpected(LoginRefusal{read.error(), "store_error", owner.name});
  PasswordLogin out;
  out.user_id = owner.id;
  out.login = owner.name;
  out.user = owner.name;
  out.totp_enrolled = secret.has_value();
  out.totp_enrollment_required = !out.totp_enrolled && totp_required_for(identity);
  return out;
}

LoginStep<void> AuthService::gateway_totp(const PasswordLogin& login, const std::string& code,
                                          const std::string& source) {
  if (throttle_.locked(login.login, source)) {
    return tl::make_unexpected(
        LoginRefusal{{ErrorCode::kThrottled, "too many failed logins; try again later"},
                     "throttled",
                     login.user});
  }
  std::optional<Secret> secret;
  auto read = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto s = storage::totp_secret(tx, login.user_id, false);
    if (!s) return tl::make_unexpected(s.error());
    secret = std::move(*s);
    return ok();
  });
  if (!read) return tl::make_unexpected(LoginRefusal{read.error(), "store_error", login.user});
  if (!secret || code.empty() || code.size() > 16 ||
      !ldap::totp_verify(*secret, code, clock_.now())) {
    return refuse_gateway(login.login, source, {ErrorCode::kUnauthenticated, "wrong TOTP code"},
                          "totp_wrong");
  }
  if (!spend_totp_code(login.user_id, code)) {
    return refuse_gateway(
        login.login, source,
        {ErrorCode::kUnauthenticated, "this TOTP code was already used; wait for the next one"},
        "totp_replayed");
  }
  if (!login.must_change_password) throttle_.record_success(login.login);
  return {};
}

Result<Caller> AuthService::authenticate(std::string_view header) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (header.substr(0, kPrefix.size()) != kPrefix ||
      header.size() != kPrefix.size() + kTokenChars) {
    return fail(ErrorCode::kUnauthenticated, "not logged in; run: sekisho login --user NAME");
  }
  const Digest hash = sha256(as_bytes(header.substr(kPrefix.size())));
  std::optional<storage::TokenRecord> token;
  auto r = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto t = storage::find_token(tx, hash);
    if (!t) return tl::make_unexpected(t.error());
    token = std::move(*t);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  const auto expires = token ? parse_time(token->expires_at) : Result<TimePoint>(TimePoint{});
  if (!token || token->revoked || token->user_disabled || !expires || *expires <= clock_.now()) {
    return fail(ErrorCode::kUnauthenticated,
                "session expired or revoked; run: sekisho login --user NAME");
  }
  return Caller{token->user_id, token->user_name,  token->user_source, token->roles,
                hash,           token->expires_at, token->scope};
}

Result<void> AuthService::logout(const Caller& caller) {
  return store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (auto e = storage::revoke_token(tx, caller.token_hash); !e) return e;
    auto seq = audit_.append(tx, {caller.name, "logout", caller.name, {}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
}

}  // namespace sekisho::broker
