// The login requests of the core's conversation with an SSH worker: public key (with the
// signature the core checks itself), keyboard-interactive password, and the TOTP second step.
// Each ends in kAuthenticated, kSecondFactor or a refusal, audited as ssh.login.
#include <string>
#include <utility>

#include "broker/ssh/monitor_state.hpp"
#include "ssh/keys.hpp"
#include "ssh/login_name.hpp"
#include "storage/store.hpp"

namespace sekisho::broker::monitor_detail {

namespace {

std::string enrol_first_message(const std::string& user) {
  return "your role requires TOTP: enrol first with: sekisho login --user " + user +
         "; sekisho totp enroll";
}

}  // namespace

json Monitor::auth_pubkey(json& body, wire::Fd& /*to_pass*/) {
  // Whole, not cut: ssh::parse_login_name refuses a name above ssh::kMaxLoginName.
  const std::string target = one_line(body, "target", wire::kMaxMessage);
  const std::string key = one_line(body, "key", wire::kMaxMessage);
  const bool is_signed = body.value("signed", false);
  auto login = ssh::parse_login_name(target);
  if (!login) return refusal(login.error().message);
  auto parsed = ssh::parse_ssh_public_key(key);
  if (!parsed) return refusal("unsupported key");
  std::int64_t user_id = 0;
  std::string name;
  auto found = ctx_.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto q = tx.prepare(
        "SELECT u.id, u.name FROM ssh_keys k JOIN users u ON u.id = k.user_id "
        "WHERE k.fingerprint = ? AND u.disabled = 0");
    if (!q) return tl::make_unexpected(q.error());
    q->bind(1, parsed->fingerprint);
    auto row = q->step();
    if (!row) return tl::make_unexpected(row.error());
    if (*row) {
      user_id = q->column_int(0);
      name = q->column_text(1);
    }
    return ok();
  });
  target_ = login->target();
  // Leavers: a disabled or departed owner, or a directory that cannot answer, ends here.
  auto owner = ctx_.auth ? ctx_.auth->gateway_key(parsed->fingerprint) : LoginStep<PasswordLogin>{};
  if (!owner) {
    (void)audit(owner.error().user, "ssh.login",
                {{"result", "failure"},
                 {"method", "publickey"},
                 {"reason", owner.error().reason},
                 {"fingerprint", parsed->fingerprint}});
    return refusal(owner.error().error.message);
  }
  if (found && user_id != 0 && login->gateway_user && *login->gateway_user != name) {
    user_id = 0;  // a hint names the user: another user's key does not log in as them
  }
  if (!found || user_id == 0) return unregistered_key(parsed->fingerprint);
  if (!is_signed) return {{"ok", true}};  // a probe: the key is acceptable, nothing proven yet
  account_ = login->account;
  host_ = login->host;
  if (owner->totp_enrollment_required) return enrolment_required(name, parsed->fingerprint);
  if (owner->totp_enrolled) {
    // publickey,keyboard-interactive: the key is proven, the login is not. Only auth_totp is
    // answered now, and only a good code reaches kAuthenticated.
    pending_ = std::move(*owner);
    pending_key_ = parsed->fingerprint;
    stage_ = Stage::kSecondFactor;
    return {{"ok", false}, {"totp", true}};
  }
  return key_login_done(user_id, name, parsed->fingerprint, false);
}

// A key no (enabled) user holds, or another user's key under a hint.
json Monitor::unregistered_key(const std::string& fingerprint) {
  // One event per offered key, at most 8 per connection and, across connections, at most
  // the limiter's count per source address a minute; the first one over it is summarised.
  if (failures_++ >= 8) return refusal("key not registered");
  const auto decision =
      ctx_.probe_audit == nullptr ? AuditRateLimit::Decision{} : ctx_.probe_audit->admit(source());
  if (decision.verdict == AuditRateLimit::Verdict::kSuppress) {
    return refusal("key not registered");
  }
  if (decision.verdict == AuditRateLimit::Verdict::kSummarise) {
    (void)audit("unknown", "ssh.probes_suppressed",
                {{"source", source()},
                 {"limit", ctx_.probe_audit->per_window()},
                 {"window_seconds", ctx_.probe_audit->window().count()}});
    return refusal("key not registered");
  }
  json details = {
      {"result", "failure"}, {"fingerprint", fingerprint}, {"reason", "key not registered"}};
  if (decision.suppressed_before > 0) details["suppressed_before"] = decision.suppressed_before;
  (void)audit("unknown", "ssh.login", std::move(details));
  return refusal("key not registered");
}

json Monitor::key_login_done(std::int64_t user_id, const std::string& name,
                             const std::string& fingerprint, bool with_totp) {
  user_id_ = user_id;
  user_ = name;
  authenticated();
  (void)audit(user_, "ssh.login",
              {{"result", "success"},
               {"method", "publickey"},
               {"fingerprint", fingerprint},
               {"totp", with_totp}});
  return {{"ok", true}, {"user", user_}};
}

// A role of `user` requires TOTP and none is enrolled: refused on SSH with the way to enrol, by
// key as by password (final: the worker shows the message and ends the login).
json Monitor::enrolment_required(const std::string& user, const std::string& fingerprint) {
  (void)audit(user, "ssh.login",
              {{"result", "failure"},
               {"method", "publickey"},
               {"reason", "totp_enrollment_required"},
               {"fingerprint", fingerprint},
               {"source", source()}});
  return {{"ok", false}, {"message", enrol_first_message(user)}, {"final", true}};
}

void Monitor::authenticated() {
  stage_ = Stage::kAuthenticated;
  if (on_authenticated_) on_authenticated_();
}

// The client's address without its port: the throttle's per-source key, as the API's.
std::string Monitor::source() const {
  const auto colon = peer_.rfind(':');
  std::string host = colon == std::string::npos ? peer_ : peer_.substr(0, colon);
  if (host.starts_with("::ffff:")) host = host.substr(7);
  return host;
}

// keyboard-interactive, first step: the directory password of the named (or hinted) user.
json Monitor::auth_password(json& body, wire::Fd& /*to_pass*/) {
  auto password = wire::take_secret(body, "password");
  if (++password_tries_ > kMaxPasswordTries) {
    return {{"ok", false}, {"message", "too many login attempts"}, {"final", true}};
  }
  auto login = ssh::parse_login_name(one_line(body, "target", wire::kMaxMessage));
  if (!login) return {{"ok", false}, {"message", login.error().message}, {"final", true}};
  target_ = login->target();
  const std::string user =
      login->gateway_user ? *login->gateway_user : one_line(body, "user", wire::kMaxMessage);
  if (user.size() > ssh::kMaxLoginName) {  // refused, never cut: a cut name is another user's
    return {{"ok", false},
            {"message", "the user name is longer than " + std::to_string(ssh::kMaxLoginName) +
                            " characters; refused"},
            {"final", true}};
  }
  if (!password || ctx_.auth == nullptr) {
    return {{"ok", false}, {"message", "password login is not available"}, {"final", true}};
  }
  auto step = ctx_.auth->gateway_password(user, *password, source());
  if (!step) return login_failed(user, step.error());
  account_ = login->account;
  host_ = login->host;
  if (step->totp_enrolled) {
    pending_ = std::move(*step);
    stage_ = Stage::kSecondFactor;
    return {{"ok", false}, {"totp", true}};
  }
  return password_login_done(*step, false);
}

// keyboard-interactive, second step: one TOTP code right after a good password or a signed key
// of a TOTP-enrolled user. After a password, whatever the outcome, the next try starts again
// from the password. After a key, a wrong or used code leaves the key proven (the client types
// the code again in its next round, as OpenSSH keeps a partial success); the throttle and this
// request's count in the table bound the tries.
json Monitor::auth_totp(json& body, wire::Fd& /*to_pass*/) {
  auto code = wire::take_secret(body, "code");
  stage_ = Stage::kStart;
  PasswordLogin login = std::move(*pending_);
  pending_.reset();
  std::string key = std::exchange(pending_key_, std::string());
  const std::string text = code ? std::string(code->view()) : std::string();
  auto step = ctx_.auth->gateway_totp(login, text, source());
  if (!step) {
    if (!key.empty() && step.error().error.code == ErrorCode::kUnauthenticated) {
      pending_ = login;
      pending_key_ = key;
      stage_ = Stage::kSecondFactor;
    }
    return login_failed(login.login, step.error(), key);
  }
  if (!key.empty()) return key_login_done(login.user_id, login.user, key, true);
  return password_login_done(login, true);
}

// `fingerprint`: the key proven before the code, if any.
json Monitor::login_failed(const std::string& user, const LoginRefusal& r,
                           const std::string& fingerprint) {
  json details = {{"result", "failure"},
                  {"method", "keyboard-interactive"},
                  {"reason", r.reason},
                  {"source", source()}};
  if (!fingerprint.empty()) details["fingerprint"] = fingerprint;
  (void)audit(r.reason == "bad_user_name" ? "unknown" : user, "ssh.login", std::move(details));
  // A wrong password or code may be typed again (within the worker's rounds); anything else
  // (throttled, disabled, directory down) ends password login on this connection.
  const bool final = r.error.code != ErrorCode::kUnauthenticated;
  return {{"ok", false}, {"message", r.error.message}, {"final", final}};
}

json Monitor::password_login_done(const PasswordLogin& login, bool with_totp) {
  const char* reason = login.must_change_password       ? "password_change_required"
                       : login.totp_enrollment_required ? "totp_enrollment_required"
                                                        : nullptr;
  if (reason != nullptr) {
    (void)audit(login.user, "ssh.login",
                {{"result", "failure"},
                 {"method", "keyboard-interactive"},
                 {"reason", reason},
                 {"source", source()}});
    const std::string message =
        login.must_change_password
            ? "this is a one-time password: set a new one first with: sekisho login --user " +
                  login.user
            : enrol_first_message(login.user);
    return {{"ok", false}, {"message", message}, {"final", true}};
  }
  user_id_ = login.user_id;
  user_ = login.user;
  authenticated();
  (void)audit(user_, "ssh.login",
              {{"result", "success"}, {"method", "keyboard-interactive"}, {"totp", with_totp}});
  return {{"ok", true}, {"user", user_}};
}

}  // namespace sekisho::broker::monitor_detail
