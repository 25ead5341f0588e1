// The keyboard-interactive login (password, then a TOTP code when the core asks for one, or a
// final refusal shown as a prompt-less notice). libssh 0.10 has no server callback for it: these
// requests and responses reach the worker through its message callback (session_worker.cpp).
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/secret.hpp"
#include "ssh/login_name.hpp"
#include "worker/ssh/session_worker_state.hpp"

namespace sekisho::worker::detail {

namespace {

constexpr int kMaxKbdRounds = 3;  // failed password rounds per connection, like sshd

// Sends an SSH_MSG_USERAUTH_INFO_REQUEST. With no prompts, `instruction` is a message OpenSSH
// prints on stderr before it answers (the only text a client shows for a refused login).
int kbd_ask(ssh_message msg, KbdLogin& kbd, KbdLogin::Step step, std::vector<const char*> prompts,
            std::vector<char> echo, const std::string& instruction = "") {
  kbd.step = step;
  if (ssh_message_auth_interactive_request(msg, "", instruction.c_str(),
                                           static_cast<unsigned>(prompts.size()),
                                           prompts.empty() ? nullptr : prompts.data(),
                                           echo.empty() ? nullptr : echo.data()) != SSH_OK) {
    kbd.step = KbdLogin::Step::kIdle;
    return 1;
  }
  return 0;
}

// Moves answer `i` of the client's info response into `out` and wipes libssh's copy. False when
// absent or over `limit` bytes.
bool take_answer(ssh_session session, unsigned i, std::size_t limit, std::string& out) {
  const char* a = ssh_userauth_kbdint_getanswer(session, i);
  if (a == nullptr) return false;
  const std::size_t n = std::strlen(a);
  const bool fits = n <= limit;
  if (fits) out.assign(a, n);
  wipe(const_cast<char*>(a), n);
  return fits;
}

// Asks the core about one step of the password login; the secret is written straight into the
// request and wiped from it after sending.
Result<json> ask_secret(Worker& w, json request, const char* field, std::string& secret) {
  request[field] = std::string();
  request[field].get_ref<std::string&>().swap(secret);
  auto reply = w.core.ask(request);
  (void)wire::take_secret(request, field);  // wiped as the Secret goes out of scope
  return reply;
}

// The core's answer to a password or TOTP step: log in, ask for the code, show a final refusal,
// or fail the round (libssh's default failure reply when this returns 1).
int kbd_outcome(Worker& w, ssh_message msg, const Result<json>& reply) {
  if (w.core.ok(reply)) {
    w.kbd.step = KbdLogin::Step::kIdle;
    authorize_login(w);
    ssh_message_auth_reply_success(msg, 0);
    return 0;
  }
  if (reply && reply->value("totp", false)) {
    return kbd_ask(msg, w.kbd, KbdLogin::Step::kTotp, {"TOTP code: "}, {0});
  }
  if (!reply || reply->value("final", false)) {
    w.kbd.closed = true;
    const std::string message = reply ? reply->value("message", "refused") : "gateway error";
    return kbd_ask(msg, w.kbd, KbdLogin::Step::kNotice, {}, {}, "sekisho: " + message);
  }
  if (++w.kbd.failed_rounds >= kMaxKbdRounds) w.hang_up = true;
  return 1;
}

int on_kbd_response(Worker& w, ssh_message msg) {
  const auto step = w.kbd.step;
  w.kbd.step = KbdLogin::Step::kIdle;
  const int answers = ssh_userauth_kbdint_getnanswers(w.client);
  if (step == KbdLogin::Step::kNotice) {
    w.hang_up = true;  // the client has shown the refusal
    return 1;
  }
  if (step == KbdLogin::Step::kPassword && answers == (w.kbd.ask_user ? 2 : 1)) {
    std::string user, password;
    const bool got = (!w.kbd.ask_user || take_answer(w.client, 0, 256, user)) &&
                     take_answer(w.client, w.kbd.ask_user ? 1 : 0, 1024, password);
    if (got) {
      auto reply =
          ask_secret(w, {{"type", "auth_password"}, {"target", w.kbd.name}, {"user", user}},
                     "password", password);
      wipe(password.data(), password.size());
      return kbd_outcome(w, msg, reply);
    }
    wipe(password.data(), password.size());
  } else if (step == KbdLogin::Step::kTotp && answers == 1) {
    std::string code;
    if (take_answer(w.client, 0, 16, code)) {
      auto reply = ask_secret(w, {{"type", "auth_totp"}}, "code", code);
      return kbd_outcome(w, msg, reply);
    }
  }
  if (++w.kbd.failed_rounds >= kMaxKbdRounds) w.hang_up = true;
  return 1;
}

}  // namespace

int on_kbd(Worker& w, ssh_message msg) {
  if (w.authenticated || w.kbd.closed || w.hang_up) return 1;
  if (ssh_message_auth_kbdint_is_response(msg)) return on_kbd_response(w, msg);
  if (!w.kbd.key_notice.empty()) {
    w.kbd.closed = true;
    return kbd_ask(msg, w.kbd, KbdLogin::Step::kNotice, {}, {}, w.kbd.key_notice);
  }
  if (w.kbd.key_proven) {  // the core waits for the code of the key's owner: one prompt
    return kbd_ask(msg, w.kbd, KbdLogin::Step::kTotp, {"TOTP code: "}, {0});
  }
  const char* user = ssh_message_auth_user(msg);
  auto name = ssh::parse_login_name(user != nullptr ? user : "");
  if (!name) {
    w.kbd.closed = true;
    return kbd_ask(msg, w.kbd, KbdLogin::Step::kNotice, {}, {}, "sekisho: " + name.error().message);
  }
  w.kbd.name = user;
  w.kbd.ask_user = !name->gateway_user;
  if (w.kbd.ask_user) {
    return kbd_ask(msg, w.kbd, KbdLogin::Step::kPassword, {"Sekisho user: ", "Password: "}, {1, 0});
  }
  return kbd_ask(msg, w.kbd, KbdLogin::Step::kPassword, {"Password: "}, {0});
}

}  // namespace sekisho::worker::detail
