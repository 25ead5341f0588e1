#include "broker/session_worker.hpp"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/c_handle.hpp"
#include "base/crypto.hpp"
#include "base/logging.hpp"
#include "broker/session_worker_state.hpp"
#include "broker/worker_protocol.hpp"

namespace sekisho::broker {

namespace {

using namespace worker_detail;
using SshBind = CHandle<ssh_bind_struct, ssh_bind_free>;
using SshEvent = CHandle<ssh_event_struct, ssh_event_free>;

constexpr std::size_t kMaxEnv = 32;
constexpr auto kSetupLimit = std::chrono::seconds(120);  // login + first request, like sshd's
                                                         // LoginGraceTime

// --- server callbacks (C; nothing may throw out of them) ---------------------------------------

int on_auth_pubkey(ssh_session, const char* user, ssh_key_struct* key, char state,
                   void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  try {
    if (w.authenticated) return SSH_AUTH_DENIED;
    if (state != SSH_PUBLICKEY_STATE_NONE && state != SSH_PUBLICKEY_STATE_VALID) {
      return SSH_AUTH_DENIED;
    }
    const bool is_signed = state == SSH_PUBLICKEY_STATE_VALID;
    auto reply = w.core.ask({{"type", "auth_pubkey"},
                             {"target", user != nullptr ? user : ""},
                             {"key", public_key_line(key)},
                             {"signed", is_signed}});
    if (!w.core.ok(reply)) return SSH_AUTH_DENIED;
    if (!is_signed) return SSH_AUTH_SUCCESS;  // the probe: "this key is acceptable"
    auto grant = w.core.ask({{"type", "authorize"}});
    if (!w.core.ok(grant)) {
      // The key is proven but nothing is granted: let the login succeed so that the reason reaches
      // the user on the session channel's stderr (OpenSSH shows no banner after a failed key).
      w.refusal = grant ? grant->value("message", "refused") : "gateway error";
      w.ended = true;
      w.authenticated = true;
      return SSH_AUTH_SUCCESS;
    }
    w.grant = std::move(*grant);
    w.authenticated = true;
    return SSH_AUTH_SUCCESS;
  } catch (...) {
    return SSH_AUTH_DENIED;
  }
}

int on_pty(ssh_session, ssh_channel, const char* term, int width, int height, int, int,
           void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  if (w.start != Start::kNone || w.pty) return SSH_ERROR;
  w.pty = true;
  if (term != nullptr && std::strlen(term) < 64) w.term = term;
  // A client without a terminal of its own (ssh -tt <<<…) sends 0x0: keep the 80x24 default.
  if (width > 0) w.cols = std::min(width, 1000);
  if (height > 0) w.rows = std::min(height, 1000);
  return SSH_OK;
}

int on_shell(ssh_session, ssh_channel, void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  if (w.start != Start::kNone) return SSH_ERROR;
  w.start = Start::kShell;
  return SSH_OK;
}

int on_exec(ssh_session, ssh_channel, const char* command, void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  if (w.start != Start::kNone || command == nullptr || std::strlen(command) > 32 * 1024) {
    return SSH_ERROR;
  }
  try {
    w.command = command;
  } catch (...) {
    return SSH_ERROR;
  }
  w.start = Start::kExec;
  return SSH_OK;
}

bool env_allowed(std::string_view name) {
  return name == "LANG" || name == "TERM" || name.starts_with("LC_");
}

int on_env(ssh_session, ssh_channel, const char* name, const char* value, void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  if (name == nullptr || value == nullptr || !env_allowed(name) || std::strlen(value) > 256 ||
      w.env.size() >= kMaxEnv || w.start != Start::kNone) {
    return SSH_ERROR;
  }
  try {
    w.env.emplace_back(name, value);
  } catch (...) {
    return SSH_ERROR;
  }
  return SSH_OK;
}

int on_window_change(ssh_session, ssh_channel, int width, int height, int, int, void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  w.cols = std::clamp(width, 1, 1000);
  w.rows = std::clamp(height, 1, 1000);
  if (w.target_channel != nullptr) {
    ssh_channel_change_pty_size(w.target_channel, w.cols, w.rows);
    recorder::Record r;
    r.kind = recorder::RecordKind::kResize;
    r.cols = static_cast<std::uint16_t>(w.cols);
    r.rows = static_cast<std::uint16_t>(w.rows);
    w.record(std::move(r));
  }
  return SSH_OK;
}

int on_subsystem(ssh_session, ssh_channel, const char* name, void* ud) noexcept {
  try {
    static_cast<Worker*>(ud)->report_refusal("subsystem", name != nullptr ? name : "");
  } catch (...) {
  }
  return SSH_ERROR;
}

void on_agent(ssh_session, ssh_channel, void* ud) noexcept {
  try {
    static_cast<Worker*>(ud)->report_refusal("agent forwarding", "auth-agent-req");
  } catch (...) {
  }
}

void on_x11(ssh_session, ssh_channel, int, const char*, const char*, uint32_t, void* ud) noexcept {
  try {
    static_cast<Worker*>(ud)->report_refusal("X11 forwarding", "x11-req");
  } catch (...) {
  }
}

ssh_channel on_session_channel(ssh_session session, void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  if (!w.authenticated || w.channel != nullptr) return nullptr;  // one session per connection
  w.channel = ssh_channel_new(session);
  if (w.channel == nullptr) return nullptr;
  auto& cb = w.client_cb;
  cb = {};
  cb.userdata = &w;
  cb.channel_pty_request_function = on_pty;
  cb.channel_shell_request_function = on_shell;
  cb.channel_exec_request_function = on_exec;
  cb.channel_env_request_function = on_env;
  cb.channel_pty_window_change_function = on_window_change;
  cb.channel_subsystem_request_function = on_subsystem;
  cb.channel_auth_agent_req_function = on_agent;
  cb.channel_x11_req_function = on_x11;
  ssh_callbacks_init(&cb);
  ssh_set_channel_callbacks(w.channel, &cb);
  return w.channel;
}

// Whatever the server callbacks do not take (notes pitfall 5): tunnels and forwardings are
// reported to the core (audited) and refused with libssh's default reply.
int on_message(ssh_session, ssh_message msg, void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  try {
    const int type = ssh_message_type(msg);
    const int sub = ssh_message_subtype(msg);
    if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_DIRECT_TCPIP) {
      const char* dest = ssh_message_channel_request_open_destination(msg);
      w.report_refusal("direct-tcpip",
                       std::string(dest != nullptr ? dest : "?").substr(0, 100) + ":" +
                           std::to_string(ssh_message_channel_request_open_destination_port(msg)));
    } else if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_X11) {
      w.report_refusal("X11 forwarding", "x11 channel");
    } else if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_SESSION) {
      w.report_refusal("second session channel", "");
    } else if (type == SSH_REQUEST_GLOBAL && sub == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
      w.report_refusal("tcpip-forward", std::to_string(ssh_message_global_request_port(msg)));
    }
  } catch (...) {
  }
  return 1;  // the default reply: refused
}

// Waits (bounded) until the client has the last packets, then disconnects.
void finish_client(Worker& w, ssh_event event) {
  for (int i = 0; i < 20 && ssh_is_connected(w.client) &&
                  (w.channel == nullptr || !ssh_channel_is_closed(w.channel));
       ++i) {
    if (ssh_event_dopoll(event, 100) == SSH_ERROR) break;
  }
  ssh_blocking_flush(w.client, 2000);
  ssh_disconnect(w.client);
}

Result<SshKey> receive_host_key(CoreLink& core) {
  auto hello = wire::receive_message(wire::kCoreFd);
  if (!hello || hello->body.value("type", "") != "hello") {
    return fail(ErrorCode::kInvalidArgument, "no hello from the core");
  }
  auto text = wire::take_secret(hello->body, "host_key");
  if (!text) return tl::make_unexpected(text.error());
  const std::string pem(text->view());
  ssh_key key = nullptr;
  const int rc = ssh_pki_import_privkey_base64(pem.c_str(), nullptr, nullptr, nullptr, &key);
  wipe(const_cast<char*>(pem.data()), pem.size());
  (void)core;
  if (rc != SSH_OK) return fail(ErrorCode::kInvalidArgument, "bad gateway host key");
  return SshKey(key);
}

}  // namespace

int run_session_worker() {
  ::signal(SIGPIPE, SIG_IGN);
  auto log = module_logger("ssh-worker");
  Worker w;
  auto host_key = receive_host_key(w.core);
  if (!host_key) {
    log->error("{}", host_key.error().message);
    return 1;
  }
  SshBind bind(ssh_bind_new());
  SshSession client(ssh_new());
  bool no = false;
  if (!bind || !client ||
      ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
      ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_IMPORT_KEY, host_key->release()) !=
          SSH_OK) {
    log->error("cannot set up the SSH server");
    return 1;
  }
  if (ssh_bind_accept_fd(bind.get(), client.get(), wire::kClientFd) != SSH_OK) {
    log->error("accept failed: {}", ssh_get_error(bind.get()));
    return 1;
  }
  w.client = client.get();
  w.server_cb.userdata = &w;
  w.server_cb.auth_pubkey_function = on_auth_pubkey;
  w.server_cb.channel_open_request_session_function = on_session_channel;
  ssh_callbacks_init(&w.server_cb);
  ssh_set_server_callbacks(client.get(), &w.server_cb);
  ssh_set_message_callback(client.get(), on_message, &w);
  ssh_set_auth_methods(client.get(), SSH_AUTH_METHOD_PUBLICKEY);
  if (ssh_handle_key_exchange(client.get()) != SSH_OK) {
    log->info("key exchange failed: {}", ssh_get_error(client.get()));
    return 1;
  }
  set_nodelay(client.get());

  SshEvent event(ssh_event_new());
  ssh_event_add_session(event.get(), client.get());
  const auto deadline = std::chrono::steady_clock::now() + kSetupLimit;
  while (w.start == Start::kNone && ssh_is_connected(client.get()) &&
         std::chrono::steady_clock::now() < deadline) {
    if (ssh_event_dopoll(event.get(), 200) == SSH_ERROR) break;
  }
  if (w.start != Start::kNone && w.channel != nullptr) {
    if (w.refusal.empty()) {
      run_session(w, event.get());
    } else {
      refuse_session(w, w.refusal);
    }
  }
  finish_client(w, event.get());
  ssh_event_remove_session(event.get(), client.get());
  return 0;
}

}  // namespace sekisho::broker
