#include "worker/ssh/session_worker.hpp"

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
#include "privsep/worker_privileges.hpp"
#include "privsep/worker_protocol.hpp"
#include "privsep/worker_sandbox.hpp"
#include "ssh/handles.hpp"
#include "ssh/keys.hpp"
#include "worker/ssh/session_worker_state.hpp"

namespace sekisho::worker {

namespace detail {

void authorize_login(Worker& w) {
  auto grant = w.core.ask({{"type", "authorize"}}, &w.target_fd);
  if (!w.core.ok(grant)) {
    w.refusal = grant ? grant->value("message", "refused") : "gateway error";
    w.ended = true;
  } else {
    w.grant = std::move(*grant);
  }
  w.authenticated = true;
}

}  // namespace detail

namespace {

using namespace detail;
using ssh::SshBind;
using ssh::SshEvent;

constexpr std::size_t kMaxEnv = 32;
constexpr auto kSetupLimit = std::chrono::seconds(120);  // login + first request, like sshd's
                                                         // LoginGraceTime
// How long a worker waits for the client to hang up after the session channel closed.
constexpr auto kHangUpLimit = std::chrono::seconds(30);
// The same wait once the core is gone: long enough for a client on a sound network to read the
// last line and hang up (OpenSSH does within milliseconds), short enough that a client whose
// connection outlives its session (ControlPersist) does not keep an unwatched worker alive.
constexpr auto kCoreGoneHangUpLimit = std::chrono::seconds(1);

// Without TCP_NODELAY the small packets of the key exchange and login wait on delayed ACKs
// (connection set-up took twice as long).
void set_nodelay(ssh_session s) {
  const int one = 1;
  ::setsockopt(ssh_get_fd(s), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// --- server callbacks (C; nothing may throw out of them) ---------------------------------------

// A signed key the core did not take as a login: partial success with keyboard-interactive as
// the only method left (OpenSSH's `AuthenticationMethods publickey,keyboard-interactive`) when a
// TOTP code must follow, or when the refusal has words for the user, which OpenSSH shows only in
// a keyboard-interactive exchange. Any other refusal is a plain denial.
int key_not_enough(Worker& w, ssh_session session, const Result<json>& reply) {
  if (reply && reply->value("totp", false)) {
    w.kbd.key_proven = true;
  } else if (reply && reply->value("final", false)) {
    w.kbd.key_notice = "sekisho: " + reply->value("message", std::string("refused"));
  } else {
    return SSH_AUTH_DENIED;
  }
  ssh_set_auth_methods(session, SSH_AUTH_METHOD_INTERACTIVE);
  return SSH_AUTH_PARTIAL;
}

int on_auth_pubkey(ssh_session session, const char* user, ssh_key_struct* key, char state,
                   void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  try {
    // After a proven key, the core answers only the TOTP code: no second key is asked about.
    if (w.authenticated || w.kbd.key_proven || !w.kbd.key_notice.empty()) return SSH_AUTH_DENIED;
    if (state != SSH_PUBLICKEY_STATE_NONE && state != SSH_PUBLICKEY_STATE_VALID) {
      return SSH_AUTH_DENIED;
    }
    const bool is_signed = state == SSH_PUBLICKEY_STATE_VALID;
    auto reply = w.core.ask({{"type", "auth_pubkey"},
                             {"target", user != nullptr ? user : ""},
                             {"key", ssh::public_key_line(key)},
                             {"signed", is_signed}});
    if (!w.core.ok(reply)) return is_signed ? key_not_enough(w, session, reply) : SSH_AUTH_DENIED;
    if (!is_signed) return SSH_AUTH_SUCCESS;  // the probe: "this key is acceptable"
    authorize_login(w);
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

// Only sftp is relayed (its bytes go through the SFTP parser); other subsystems are refused.
int on_subsystem(ssh_session, ssh_channel, const char* name, void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  try {
    if (name != nullptr && std::string_view(name) == "sftp" && w.start == Start::kNone) {
      w.start = Start::kSftp;
      return SSH_OK;
    }
    w.report_refusal("subsystem", name != nullptr ? std::string(name).substr(0, 64) : "");
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
  cb.channel_data_function = note_channel_data;
  ssh_callbacks_init(&cb);
  ssh_set_channel_callbacks(w.channel, &cb);
  return w.channel;
}

// Whatever the server callbacks do not take: libssh 0.10 has none for direct-tcpip (-L, -W,
// ProxyJump through the gateway), tcpip-forward (-R) or keyboard-interactive, which arrive here as
// messages. Tunnels and forwardings are reported to the core (audited) and refused with libssh's
// default reply.
int on_message(ssh_session, ssh_message msg, void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  try {
    const int type = ssh_message_type(msg);
    const int sub = ssh_message_subtype(msg);
    if (type == SSH_REQUEST_AUTH && sub == SSH_AUTH_METHOD_INTERACTIVE) return on_kbd(w, msg);
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

// Waits (bounded) until the client has the last packets, then disconnects; not long once the
// core is gone (docs/ssh_gateway.md "When the core dies").
void finish_client(Worker& w, ssh_event event) {
  for (int i = 0; i < 20 && ssh_is_connected(w.client) &&
                  (w.channel == nullptr || !ssh_channel_is_closed(w.channel));
       ++i) {
    if (ssh_event_dopoll(event, 100) == SSH_ERROR) break;
  }
  ssh_blocking_flush(w.client, 2000);
  // The last bytes may still sit in the kernel's send queue. Closing the socket while the client's
  // window adjustments lie unread in the receive queue makes the kernel send a reset, which throws
  // away what the client has not read yet (the tail of a download). So after the channel close,
  // read on until the client, which has then read everything, hangs up.
  constexpr auto kStep = std::chrono::milliseconds(100);
  const int waits = w.channel != nullptr && ssh_channel_is_closed(w.channel)
                        ? static_cast<int>(kHangUpLimit / kStep)
                        : 0;
  const int gone_waits = static_cast<int>(kCoreGoneHangUpLimit / kStep);
  for (int i = 0, gone_for = 0; i < waits && ssh_is_connected(w.client); ++i) {
    if (w.core.peer_gone() && ++gone_for > gone_waits) break;
    if (ssh_event_dopoll(event, static_cast<int>(kStep.count())) == SSH_ERROR) break;
  }
  ssh_disconnect(w.client);
}

// The session hello (main has read it): the gateway's host key, and whether and how to give up
// root (privsep::privileges_from_hello).
Result<SshKey> receive_host_key(nlohmann::json& hello, privsep::WorkerPrivileges& privileges) {
  auto p = privsep::privileges_from_hello(hello);
  if (!p) return tl::make_unexpected(p.error());
  privileges = std::move(*p);
  auto text = wire::take_secret(hello, "host_key");
  if (!text) return tl::make_unexpected(text.error());
  const std::string pem(text->view());
  ssh_key key = nullptr;
  const int rc = ssh_pki_import_privkey_base64(pem.c_str(), nullptr, nullptr, nullptr, &key);
  wipe(const_cast<char*>(pem.data()), pem.size());
  if (rc != SSH_OK) return fail(ErrorCode::kInvalidArgument, "bad gateway host key");
  return SshKey(key);
}

// The server side set up with the gateway's host key, then root given up and the seccomp filter
// installed: all before the first byte from the client. Errors are one line for the log.
Result<void> prepare_server(ssh_bind bind, SshKey host_key,
                            const privsep::WorkerPrivileges& privileges) {
  bool no = false;
  if (ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
      ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, host_key.release()) != SSH_OK) {
    return fail(ErrorCode::kInternal, "cannot set up the SSH server");
  }
  // The key exchange and everything after it run as worker_user in the empty root (libssh and
  // OpenSSL are initialised and the key imported).
  if (auto r = privsep::apply_worker_privileges(privileges); !r) {
    return fail(ErrorCode::kPermissionDenied, "cannot give up root: " + r.error().message);
  }
  // Then the seccomp filter: from here on no socket, connect, open or exec (the core passes the
  // target connection and the recording as descriptors).
  if (auto r = privsep::install_worker_sandbox(); !r) {
    return fail(ErrorCode::kInternal, "cannot install the sandbox: " + r.error().message);
  }
  return ok();
}

void set_callbacks(Worker& w, ssh_session client) {
  w.client = client;
  w.server_cb.userdata = &w;
  w.server_cb.auth_pubkey_function = on_auth_pubkey;
  w.server_cb.channel_open_request_session_function = on_session_channel;
  ssh_callbacks_init(&w.server_cb);
  ssh_set_server_callbacks(client, &w.server_cb);
  ssh_set_message_callback(client, on_message, &w);
  ssh_set_auth_methods(client, SSH_AUTH_METHOD_PUBLICKEY | SSH_AUTH_METHOD_INTERACTIVE);
}

// Login and the first channel request, within kSetupLimit (as sshd's LoginGraceTime), or until
// the client, the login or the core gives up.
void wait_for_session_start(Worker& w, ssh_event event) {
  const auto deadline = std::chrono::steady_clock::now() + kSetupLimit;
  while (w.start == Start::kNone && !w.hang_up && ssh_is_connected(w.client) &&
         std::chrono::steady_clock::now() < deadline) {
    if (ssh_event_dopoll(event, 200) == SSH_ERROR) break;
    if (w.core.peer_gone()) {
      // Nothing can be granted or recorded without the core: no session starts.
      w.hang_up = true;
      if (w.refusal.empty()) w.refusal = "the gateway stopped; this session is closed";
    }
  }
}

}  // namespace

int run_session_worker(nlohmann::json& hello) {
  ::signal(SIGPIPE, SIG_IGN);
  auto log = module_logger("ssh-worker");
  Worker w;
  privsep::WorkerPrivileges privileges;
  auto host_key = receive_host_key(hello, privileges);
  if (!host_key) {
    log->error("{}", host_key.error().message);
    return 1;
  }
  SshBind bind(ssh_bind_new());
  SshSession client(ssh_new());
  if (!bind || !client) {
    log->error("cannot set up the SSH server");
    return 1;
  }
  if (auto r = prepare_server(bind.get(), std::move(*host_key), privileges); !r) {
    log->error("{}", r.error().message);
    return 1;
  }
  if (ssh_bind_accept_fd(bind.get(), client.get(), wire::kClientFd) != SSH_OK) {
    log->error("accept failed: {}", ssh_get_error(bind.get()));
    return 1;
  }
  set_callbacks(w, client.get());
  if (ssh_handle_key_exchange(client.get()) != SSH_OK) {
    log->info("key exchange failed: {}", ssh_get_error(client.get()));
    return 1;
  }
  set_nodelay(client.get());

  SshEvent event(ssh_event_new());
  ssh_event_add_session(event.get(), client.get());
  wait_for_session_start(w, event.get());
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

}  // namespace sekisho::worker
