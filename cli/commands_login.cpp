// login, logout, whoami and TOTP enrolment.
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "cli/commands.hpp"
#include "cli/prompt.hpp"
#include "cli/table.hpp"
#include "recorder/format.hpp"

namespace sekisho::cli {

namespace {

constexpr std::size_t kMaxToken = 1024;
constexpr std::size_t kMaxSigningKey = 4096;  // an Ed25519 public key PEM is 113 bytes

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' ||
         c == '~' || c == '+' || c == '/' || c == '=';
}

// Moves the token out of a login answer into a Secret and wipes the JSON's copy.
Result<Secret> take_token(nlohmann::json& body) {
  if (!body.is_object() || !body.contains("token") || !body["token"].is_string()) {
    return fail(ErrorCode::kCorrupt, "the gateway's login answer has no token");
  }
  auto& text = body["token"].get_ref<std::string&>();
  const bool good = !text.empty() && text.size() <= kMaxToken &&
                    std::all_of(text.begin(), text.end(), is_token_char);
  Secret token = Secret::copy_of(text);
  wipe(text.data(), text.size());
  body.erase("token");
  if (!good) return fail(ErrorCode::kCorrupt, "the gateway's login answer has a malformed token");
  return token;
}

// Sends the login until it succeeds or fails for good: a required password change asks for the
// new password (line 2 of standard input, or a prompt twice), a required TOTP code is asked on
// the terminal when none was given.
Result<nlohmann::json> login_exchange(ApiClient& api, const LoginOptions& options,
                                      SecretSource& secrets) {
  auto password = secrets.current("Password for " + options.user + ": ", "the password");
  if (!password) return tl::make_unexpected(password.error());
  std::optional<Secret> new_password;
  nlohmann::json fields = {{"user", options.user}};
  if (options.totp) fields["totp"] = *options.totp;
  for (int attempt = 0;; ++attempt) {
    Secret body = new_password ? json_with_secrets(fields, {{"password", &*password},
                                                            {"new_password", &*new_password}})
                               : json_with_secrets(fields, {{"password", &*password}});
    auto response = api.post_secret("/v1/login", body, nullptr);
    if (!response || attempt >= 2) return expect_success(std::move(response));
    const std::string code = response->error_code();
    if (code == "password_change_required" && !new_password) {
      if (!secrets.from_stdin()) std::cerr << "The gateway requires a new password." << std::endl;
      auto fresh = secrets.fresh("New password: ", "the new password");
      if (!fresh) {
        return fail(fresh.error().code,
                    "the gateway requires a new password, but " + fresh.error().message);
      }
      new_password = std::move(*fresh);
    } else if (code == "totp_required" && !fields.contains("totp") && have_terminal()) {
      auto totp = prompt_visible("TOTP code: ");
      if (!totp) return tl::make_unexpected(totp.error());
      fields["totp"] = *totp;
    } else {
      return expect_success(std::move(response));
    }
  }
}

// The login answer's recording signing key, checked against the one pinned for `server` (pinned
// here at the first login that carries one). A different key is refused: recordings signed by it
// would not verify against the pin, and a gateway whose key changed must be re-trusted on purpose
// (remove its entry from known_gateways.json).
Result<void> check_signing_key(const CliHome& home, const std::string& server,
                               const nlohmann::json& body) {
  if (!body.contains("signing_key") || !body["signing_key"].is_string()) return ok();
  const std::string pem = body["signing_key"].get<std::string>();
  if (pem.size() > kMaxSigningKey || !ed25519_verify(pem, {}, {})) {
    return fail(ErrorCode::kCorrupt, "the gateway's login answer has a malformed signing key");
  }
  auto pinned = home.pinned_signing_key(server);
  if (!pinned) return tl::make_unexpected(pinned.error());
  if (*pinned) {
    if (recorder::format::key_fingerprint(**pinned) == recorder::format::key_fingerprint(pem)) {
      return ok();
    }
    return fail(ErrorCode::kPermissionDenied,
                "the gateway's recording signing key " + recorder::format::key_fingerprint(pem) +
                    " differs from the one pinned at first login (" +
                    recorder::format::key_fingerprint(**pinned) + "); refused");
  }
  if (auto r = home.pin_signing_key(server, pem); !r) return r;
  std::cerr << "pinned gateway signing key " << recorder::format::key_fingerprint(pem) << std::endl;
  return ok();
}

}  // namespace

Result<void> run_login(const GlobalOptions& global, const LoginOptions& options) {
  auto gateway = Gateway::anonymous(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  Gateway& g = **gateway;
  // Reach the gateway and check its certificate before asking for (or reading) a password.
  if (auto health = expect_success(g.api().get("/v1/health", nullptr)); !health) {
    return tl::make_unexpected(health.error());
  }
  SecretSource secrets(options.password_stdin);
  auto body = login_exchange(g.api(), options, secrets);
  if (!body) return tl::make_unexpected(body.error());
  auto token = take_token(*body);
  if (!token) return tl::make_unexpected(token.error());

  const std::string server = g.server().url();
  if (!g.pinned()) {
    // The pin is written before the session: a session must never exist without its pin.
    const std::string presented = g.api().presented_certificate();
    if (auto r = g.home().pin_certificate(server, presented, format_time(SystemClock().now()));
        !r) {
      return r;
    }
    std::cerr << "pinned gateway certificate " << presented << std::endl;
  }
  if (auto r = check_signing_key(g.home(), server, *body); !r) return r;
  SessionInfo info{server, cell(*body, "user"), cell(*body, "expires_at")};
  if (info.user.empty()) info.user = options.user;
  if (auto r = g.home().save_session(info, *token); !r) return r;
  if (global.json) {
    body->erase("token");
    (*body)["server"] = server;
    print_json(*body);
  } else {
    std::cout << "logged in to " << server << " as " << printable(info.user)
              << " (roles: " << printable(cell(*body, "roles")) << "; until "
              << printable(info.expires_at) << ")" << std::endl;
    if (body->value("totp_enrollment_required", false)) {
      std::cout << "Your role requires TOTP: this login may only enrol it. Run: sekisho totp "
                   "enroll, sekisho totp confirm CODE, then log in again with --totp CODE"
                << std::endl;
    }
  }
  return ok();
}

Result<void> run_logout(const GlobalOptions& global) {
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  Gateway& g = **gateway;
  auto revoked = expect_success(g.api().post("/v1/logout", nlohmann::json::object(), g.token()));
  // The local token goes in every case; a token the gateway no longer knows is logged out.
  if (auto r = g.home().clear_session(); !r) return r;
  if (!revoked && revoked.error().code != ErrorCode::kUnauthenticated) {
    return fail(revoked.error().code,
                "removed the local session, but the gateway did not confirm revoking the token: " +
                    revoked.error().message);
  }
  if (global.json) {
    print_json({{"server", g.server().url()}, {"logged_out", true}});
  } else {
    std::cout << "logged out of " << g.server().url() << std::endl;
  }
  return ok();
}

Result<void> run_whoami(const GlobalOptions& global) {
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->get("/v1/whoami");
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  const bool totp = body->value("totp_enrolled", false);
  std::cout << format_table(
      {"user", cell(*body, "user")},
      {{"roles", cell(*body, "roles")},
       {"source", cell(*body, "source")},
       {"totp", totp ? "enrolled" : "not enrolled"},
       {"token", cell(*body, "token_scope") == "totp_enrollment" ? "TOTP enrolment only" : "full"},
       {"expires", cell(*body, "expires_at")},
       {"gateway", (*gateway)->server().url()}});
  return ok();
}

Result<void> run_totp_enroll(const GlobalOptions& global,
                             const std::optional<std::string>& current_code) {
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  nlohmann::json fields = nlohmann::json::object();
  if (current_code) {
    fields["current_code"] = *current_code;
  } else if (have_terminal()) {
    // Without a terminal the request goes without a code and the gateway says what is missing.
    auto me = (*gateway)->get("/v1/whoami");
    if (!me) return tl::make_unexpected(me.error());
    if (me->value("totp_enrolled", false)) {
      auto code = prompt_visible("Current TOTP code (to replace the enrolled one): ");
      if (!code) return tl::make_unexpected(code.error());
      fields["current_code"] = *code;
    }
  }
  auto body = (*gateway)->post("/v1/totp/enroll", fields);
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::cout << "Add this to your authenticator app (scan or paste the URI, or type the secret):\n"
            << "  URI:    " << printable(cell(*body, "uri")) << "\n"
            << "  secret: " << printable(cell(*body, "secret")) << "\n"
            << "Then confirm with: sekisho totp confirm CODE" << std::endl;
  return ok();
}

Result<void> run_totp_confirm(const GlobalOptions& global, const std::string& code) {
  const bool digits =
      code.size() >= 6 && code.size() <= 8 &&
      std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return fail(ErrorCode::kInvalidArgument, "a TOTP code is 6 to 8 digits");
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->post("/v1/totp/confirm", {{"code", code}});
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
  } else {
    std::cout << "TOTP enrolled: from now on log in with --totp CODE" << std::endl;
  }
  return ok();
}

}  // namespace sekisho::cli
