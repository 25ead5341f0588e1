// Endpoints for who a person is: login, logout, whoami, TOTP, users, SSH keys.
#include <algorithm>

#include "base/password_hash.hpp"
#include "broker/api/routes.hpp"
#include "broker/auth/user_cutoff.hpp"
#include "broker/sessions/live_sessions.hpp"
#include "ldap/totp.hpp"
#include "ssh/keys.hpp"
#include "storage/api_tokens.hpp"
#include "storage/user_keys.hpp"
#include "storage/users.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxPassword = 1024;

// Runs `fn` in a write transaction and appends `event` in it: the change and its audit event
// commit together.
Result<void> change_with_audit(ApiContext& ctx, storage::AuditEvent event,
                               const std::function<Result<void>(storage::Store::Tx&)>& fn) {
  return ctx.store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (auto r = fn(tx); !r) return r;
    auto seq = ctx.audit.append(tx, event);
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
}

Result<ApiReply> login(ApiContext& ctx, ApiRequest& req) {
  LoginRequest login;
  auto user = string_field(req.body, "user", 256);
  if (!user) return tl::make_unexpected(user.error());
  login.user = *user;
  if (!req.body.contains("password") || !req.body["password"].is_string()) {
    return fail(ErrorCode::kInvalidArgument, "password: required");
  }
  auto password = secret_field(req.body, "password", kMaxPassword);
  if (!password) return tl::make_unexpected(password.error());
  login.password = std::move(*password);
  auto totp = optional_string_field(req.body, "totp", 16);
  if (!totp) return tl::make_unexpected(totp.error());
  login.totp = *totp;
  if (req.body.contains("new_password")) {
    auto next = secret_field(req.body, "new_password", kMaxPassword);
    if (!next) return tl::make_unexpected(next.error());
    login.new_password = std::move(*next);
  }
  login.source = req.source;
  auto result = ctx.auth.login(login);
  if (!result) return tl::make_unexpected(result.error());
  return ApiReply{200,
                  {{"token", result->token},
                   {"user", result->user},
                   {"roles", result->roles},
                   {"expires_at", result->expires_at},
                   {"totp_enrollment_required", result->totp_enrollment_required},
                   {"token_scope", result->totp_enrollment_required ? "totp_enrollment" : "full"},
                   {"signing_key", ctx.signing_public_pem}}};
}

Result<ApiReply> whoami(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  bool enrolled = false;
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto s = storage::totp_secret(tx, c.user_id, false);
    if (!s) return tl::make_unexpected(s.error());
    enrolled = s->has_value();
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{200,
                  {{"user", c.name},
                   {"roles", c.roles},
                   {"source", c.source},
                   {"totp_enrolled", enrolled},
                   {"token_scope", storage::scope_name(c.scope)},
                   {"expires_at", c.expires_at}}};
}

// Starts an enrolment (a new pending secret). Replacing an enrolled factor needs its current code
// ("current_code"): a stolen token alone must not be enough to swap the second factor.
Result<ApiReply> totp_enroll(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  auto current = optional_string_field(req.body, "current_code", 16);
  if (!current) return tl::make_unexpected(current.error());
  if (auto r = ctx.auth.check_current_totp(c, *current, req.source); !r) {
    return tl::make_unexpected(r.error());
  }
  const Secret secret = ldap::generate_totp_secret();
  auto r = change_with_audit(ctx, {c.name, "totp.enroll", c.name, {}}, [&](auto& tx) {
    return storage::set_totp_pending(tx, c.user_id, secret);
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{
      200,
      {{"secret", ldap::totp_base32(secret)}, {"uri", ldap::totp_uri(secret, c.name, "Sekisho")}}};
}

Result<ApiReply> totp_confirm(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  auto code = string_field(req.body, "code", 16);
  if (!code) return tl::make_unexpected(code.error());
  auto r = ctx.store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto pending = storage::totp_secret(tx, c.user_id, true);
    if (!pending) return tl::make_unexpected(pending.error());
    if (!pending->has_value()) {
      return fail(ErrorCode::kNotFound, "no TOTP enrolment is pending; run: sekisho totp enroll");
    }
    if (!ldap::totp_verify(**pending, *code, ctx.clock.now())) {
      return fail(ErrorCode::kInvalidArgument, "wrong TOTP code; enrolment not confirmed");
    }
    if (auto e = storage::confirm_totp(tx, c.user_id); !e) return e;
    auto seq = ctx.audit.append(tx, {c.name, "totp.confirm", c.name, {}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{};
}

Result<ApiReply> users_add(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  auto name = string_field(req.body, "name", 64);
  if (!name) return tl::make_unexpected(name.error());
  auto roles = string_list_field(req.body, "roles", 4, 16);
  if (!roles) return tl::make_unexpected(roles.error());
  auto password = secret_field(req.body, "password", kMaxPassword);
  if (!password) return tl::make_unexpected(password.error());
  if (password->size() < kMinPasswordLength) {
    return fail(ErrorCode::kInvalidArgument, "password: at least 12 characters");
  }
  auto hash = hash_password(*password);
  if (!hash) return tl::make_unexpected(hash.error());
  std::sort(roles->begin(), roles->end());
  roles->erase(std::unique(roles->begin(), roles->end()), roles->end());
  auto r = change_with_audit(
      ctx, {c.name, "user.create", *name, {{"roles", *roles}, {"source", "local"}}},
      [&](auto& tx) -> Result<void> {
        storage::NewUser user{*name, *hash, *roles, true, format_time(ctx.clock.now())};
        auto id = storage::create_user(tx, user);
        if (!id) return tl::make_unexpected(id.error());
        return ok();
      });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{201, {{"name", *name}, {"roles", *roles}}};
}

Result<ApiReply> users_list(ApiContext& ctx, ApiRequest&) {
  json users = json::array();
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto list = storage::list_users(tx);
    if (!list) return tl::make_unexpected(list.error());
    for (const auto& u : *list) {
      users.push_back({{"name", u.name},
                       {"roles", u.roles},
                       {"source", u.source},
                       {"disabled", u.disabled},
                       {"created_at", u.created_at}});
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{200, {{"users", users}}};
}

// Disabling cuts the user off at once: tokens revoked with the flag (one transaction), then
// their live SSH sessions and open requests ended with reason "user disabled" (each audited).
Result<ApiReply> users_disable(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  const std::string& name = req.path_param;
  if (name == c.name) return fail(ErrorCode::kInvalidArgument, "you cannot disable yourself");
  std::int64_t user_id = 0;
  auto r =
      change_with_audit(ctx, {c.name, "user.disable", name, {}}, [&](auto& tx) -> Result<void> {
        auto user = storage::find_user(tx, name);
        if (!user) return tl::make_unexpected(user.error());
        if (!user->has_value()) return fail(ErrorCode::kNotFound, "no user " + name);
        user_id = (*user)->id;
        if (auto e = storage::set_disabled(tx, user_id, true); !e) return e;
        return storage::revoke_user_tokens(tx, user_id);
      });
  if (!r) return tl::make_unexpected(r.error());
  CutOffTargets targets{ctx.store, ctx.audit, ctx.requests, {}, ctx.checkouts};
  if (ctx.live_sessions != nullptr) {
    targets.end_sessions = [&ctx](const std::string& user, const std::string& reason) {
      return ctx.live_sessions->end_sessions_of(user, reason);
    };
  }
  auto cut = cut_off_user(targets, user_id, name, c.name);
  if (!cut) return tl::make_unexpected(cut.error());
  return ApiReply{200,
                  {{"sessions_ended", cut->sessions},
                   {"requests_ended", cut->requests},
                   {"checkouts_ended", cut->checkouts}}};
}

// Enabling lets the user log in again; what the disable ended stays ended.
Result<ApiReply> users_enable(ApiContext& ctx, ApiRequest& req) {
  const std::string& name = req.path_param;
  auto r = change_with_audit(
      ctx, {req.caller->name, "user.enable", name, {}}, [&](auto& tx) -> Result<void> {
        auto user = storage::find_user(tx, name);
        if (!user) return tl::make_unexpected(user.error());
        if (!user->has_value()) return fail(ErrorCode::kNotFound, "no user " + name);
        if (!(*user)->disabled) {
          return fail(ErrorCode::kInvalidArgument, "user " + name + " is not disabled");
        }
        return storage::set_disabled(tx, (*user)->id, false);
      });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{};
}

Result<ApiReply> keys_add(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  auto text = string_field(req.body, "public_key", 16 * 1024);
  if (!text) return tl::make_unexpected(text.error());
  auto key = ssh::parse_ssh_public_key(*text);
  if (!key) return tl::make_unexpected(key.error());
  auto r = change_with_audit(
      ctx, {c.name, "key.add", c.name, {{"fingerprint", key->fingerprint}, {"type", key->type}}},
      [&](auto& tx) {
        return storage::add_user_key(
            tx, c.user_id,
            {key->fingerprint, key->line(), key->comment, format_time(ctx.clock.now())});
      });
  if (!r && r.error().code == ErrorCode::kPermissionDenied) {
    // Someone holding another person's public key (it is public) tried to make it theirs: one
    // key identifies one person, so the refusal is worth an audit event, without naming the owner.
    auto seq = ctx.audit.append({c.name,
                                 "key.add_refused",
                                 c.name,
                                 {{"fingerprint", key->fingerprint},
                                  {"reason", "registered to another user"},
                                  {"source", req.source}}});
    if (!seq) return tl::make_unexpected(seq.error());
  }
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{
      201, {{"fingerprint", key->fingerprint}, {"type", key->type}, {"comment", key->comment}}};
}

Result<ApiReply> keys_list(ApiContext& ctx, ApiRequest& req) {
  json keys = json::array();
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto list = storage::list_user_keys(tx, req.caller->user_id);
    if (!list) return tl::make_unexpected(list.error());
    for (const auto& k : *list) {
      const auto space = k.public_key.find(' ');
      keys.push_back({{"fingerprint", k.fingerprint},
                      {"type", k.public_key.substr(0, space)},
                      {"comment", k.comment},
                      {"created_at", k.created_at}});
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{200, {{"keys", keys}}};
}

Result<ApiReply> keys_remove(ApiContext& ctx, ApiRequest& req) {
  const Caller& c = *req.caller;
  auto fingerprint = string_field(req.body, "fingerprint", 128);
  if (!fingerprint) return tl::make_unexpected(fingerprint.error());
  auto r = change_with_audit(
      ctx, {c.name, "key.remove", c.name, {{"fingerprint", *fingerprint}}},
      [&](auto& tx) { return storage::remove_user_key(tx, c.user_id, *fingerprint); });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{};
}

}  // namespace

void add_identity_routes(ApiRouter& router, ApiContext& ctx) {
  auto bind = [&ctx](Result<ApiReply> (*fn)(ApiContext&, ApiRequest&)) {
    return [&ctx, fn](ApiRequest& req) { return fn(ctx, req); };
  };
  router.post("/v1/login", Access::anyone(), bind(login));
  // An enrolment-only token (docs/api.md "Login rules") may log out, say who it is and enrol.
  router.post("/v1/logout", Access::enrolment(), [&ctx](ApiRequest& req) -> Result<ApiReply> {
    if (auto r = ctx.auth.logout(*req.caller); !r) return tl::make_unexpected(r.error());
    return ApiReply{};
  });
  router.get("/v1/whoami", Access::enrolment(), bind(whoami));
  router.post("/v1/totp/enroll", Access::enrolment(), bind(totp_enroll));
  router.post("/v1/totp/confirm", Access::enrolment(), bind(totp_confirm));
  router.post("/v1/users", Access::roles_of({"operator"}), bind(users_add));
  router.get("/v1/users", Access::roles_of({"operator", "auditor"}), bind(users_list));
  router.post("/v1/users/:name/disable", Access::roles_of({"operator"}), bind(users_disable));
  router.post("/v1/users/:name/enable", Access::roles_of({"operator"}), bind(users_enable));
  router.post("/v1/keys", Access::any_user(), bind(keys_add));
  router.get("/v1/keys", Access::any_user(), bind(keys_list));
  router.post("/v1/keys/remove", Access::any_user(), bind(keys_remove));
}

}  // namespace sekisho::broker
