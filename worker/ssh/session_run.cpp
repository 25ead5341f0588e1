// The granted session's steps around the relay: the target login (ssh/target.hpp, with the
// core's host-key check between handshake and login), the recording the core opens, the target
// channel, and the end with the closing record the core signs.
#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <algorithm>
#include <optional>
#include <string>

#include "base/crypto.hpp"
#include "ssh/target.hpp"
#include "worker/ssh/session_worker_state.hpp"

namespace sekisho::worker::detail {

namespace {

// Speaks SSH on the target connection the core opened, has the core check the target's host key
// against the pinned one, and logs in with the vaulted credential. Errors carry a message for the
// user; kPermissionDenied: the core refused (and audited why).
Result<SshSession> connect_target(Worker& w) {
  if (!w.target_fd) return fail(ErrorCode::kInternal, "no target connection from the core");
  auto session = ssh::new_target_session({.address = w.grant.value("address", ""),
                                          .port = w.grant.value("port", 22U),
                                          .account = w.grant.value("account", ""),
                                          .pinned_host_key = w.grant.value("host_key", "")});
  if (!session) return session;
  if (auto r = ssh::handshake_target(session->get(), w.target_fd.release()); !r) {
    return tl::make_unexpected(r.error());
  }
  auto host_key = ssh::presented_host_key(session->get());
  if (!host_key) return tl::make_unexpected(host_key.error());
  auto cred = w.core.ask({{"type", "credential"}, {"host_key", *host_key}});
  if (!w.core.ok(cred)) {
    // The core refused (a host key that is not the pinned one, no vaulted credential): it
    // audited why and ended the conversation. kPermissionDenied says so to run_session.
    return fail(ErrorCode::kPermissionDenied,
                cred ? cred->value("message", "refused") : "gateway error");
  }
  auto secret = wire::take_secret(*cred, "secret");
  if (!secret) return fail(ErrorCode::kInternal, "no credential from the core");
  const auto kind = cred->value("kind", "") == "key" ? ssh::CredentialKind::kPrivateKey
                                                     : ssh::CredentialKind::kPassword;
  if (auto r = ssh::log_in_to_target(session->get(), kind, *secret); !r) {
    return tl::make_unexpected(r.error());
  }
  return session;
}

// Asks the core for the session's recording and opens a Writer on it. The core passes the
// recordings directory (O_PATH) and the file name; see docs/ssh_gateway.md.
Result<std::unique_ptr<recorder::Writer>> open_writer(Worker& w, wire::Fd& dir) {
  auto reply = w.core.ask({{"type", "open_recording"}, {"cols", w.cols}, {"rows", w.rows}}, &dir);
  if (!w.core.ok(reply) || !dir) {
    return fail(ErrorCode::kUnavailable,
                reply ? reply->value("message", "no recording") : "gateway error");
  }
  const json& h = (*reply)["header"];
  recorder::Header header;
  header.session_id = reply->value("session", "");
  w.session_id = header.session_id;
  header.user = h.value("user", "");
  header.host = h.value("host", "");
  header.account = h.value("account", "");
  header.request_id = h.value("request", "");
  header.protocol = "ssh";
  header.start_unix_us = h.value("start_unix_us", std::int64_t{0});
  header.cols = static_cast<std::uint16_t>(w.cols);
  header.rows = static_cast<std::uint16_t>(w.rows);
  auto key = wire::take_secret(*reply, "data_key");
  if (!key) return tl::make_unexpected(key.error());
  auto data_key = hex_decode_secret(key->view());
  auto wrapped = hex_decode_secret(reply->value("wrapped_key", ""));
  if (!data_key || !wrapped) return fail(ErrorCode::kInternal, "bad recording key");
  recorder::DataKey dk{std::move(*data_key),
                       Bytes(wrapped->bytes().begin(), wrapped->bytes().end())};
  // `dir` is the recording file the core created (not a directory): the writer takes it over.
  recorder::WriterOptions options;
  options.queue_bytes = std::clamp<std::size_t>(reply->value("queue_bytes", options.queue_bytes),
                                                std::size_t{1} << 20, std::size_t{1} << 30);
  return recorder::Writer::create_at(dir.release(), reply->value("file", "recording"), header,
                                     std::move(dk), reply->value("signer_pem", ""), options);
}

void on_exit_status(ssh_session, ssh_channel, int status, void* ud) noexcept {
  static_cast<Worker*>(ud)->exit_status = status;
}

void on_exit_signal(ssh_session, ssh_channel, const char* sig, int core_dumped, const char*,
                    const char*, void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  try {
    w.exit_signal = sig != nullptr ? std::string(sig).substr(0, 32) : "KILL";
  } catch (...) {
  }
  w.exit_core_dumped = core_dumped != 0;
}

// Opens the target channel with the client's pty, allowed environment and command.
Result<void> start_target_channel(Worker& w, ssh_session target) {
  w.target_channel = ssh_channel_new(target);
  if (w.target_channel == nullptr || ssh_channel_open_session(w.target_channel) != SSH_OK) {
    return fail(ErrorCode::kUnavailable, "the target refused a session channel");
  }
  w.target_cb = {};
  w.target_cb.userdata = &w;
  w.target_cb.channel_exit_status_function = on_exit_status;
  w.target_cb.channel_exit_signal_function = on_exit_signal;
  w.target_cb.channel_data_function = note_channel_data;
  ssh_callbacks_init(&w.target_cb);
  ssh_set_channel_callbacks(w.target_channel, &w.target_cb);
  if (w.pty &&
      ssh_channel_request_pty_size(w.target_channel, w.term.c_str(), w.cols, w.rows) != SSH_OK) {
    return fail(ErrorCode::kUnavailable, "the target refused a terminal");
  }
  for (const auto& [name, value] : w.env) {
    (void)ssh_channel_request_env(w.target_channel, name.c_str(), value.c_str());  // may refuse
  }
  const int rc = w.start == Start::kShell ? ssh_channel_request_shell(w.target_channel)
                 : w.start == Start::kSftp
                     ? ssh_channel_request_subsystem(w.target_channel, "sftp")
                     : ssh_channel_request_exec(w.target_channel, w.command.c_str());
  if (rc != SSH_OK) return fail(ErrorCode::kUnavailable, "the target refused the command");
  return ok();
}

// The client's request, as the recording's first marker.
void record_request(Worker& w) {
  recorder::Record r;
  r.kind = recorder::RecordKind::kMarker;
  if (w.start == Start::kSftp) {
    r.data = "subsystem: sftp";
  } else if (w.start == Start::kExec) {
    r.data = "exec: " + w.command.substr(0, 4096);
  } else {
    return;
  }
  w.record(std::move(r));
}

// From the recording's start to the relay's end: file-transfer tracking, the request recorded,
// the target channel opened, the relay. Returns the end reason (a refusal's, when the session
// never started).
std::string serve_request(Worker& w, ssh_session target, ssh_event event) {
  const auto refused = start_tracking(w);
  record_request(w);
  if (refused) return *refused;  // the target channel is never opened
  if (auto started = start_target_channel(w, target); !started) {
    refuse_session(w, started.error().message);
    return started.error().message;
  }
  return relay_session(w, target, event);
}

// Closes the recording with the closing record the core signs and reports the end; returns the
// end reason for the log. With the core gone nothing more is asked of it: close() still seals
// and syncs every record the writer took as complete chunks, but writes no closing record (only
// the core signs one, and it seals the file when it starts again: docs/ssh_gateway.md "When the
// core dies").
std::string end_recording(Worker& w, recorder::Writer& writer, std::string reason) {
  auto summary = writer.close([&w](ByteView message) -> Result<Bytes> {
    if (w.core.down()) return fail(ErrorCode::kUnavailable, "the gateway core is gone");
    auto reply = w.core.ask({{"type", "sign"}, {"message", hex_encode(message)}});
    if (!w.core.ok(reply)) return fail(ErrorCode::kInternal, "the core did not sign");
    auto sig = hex_decode_secret(reply->value("signature", ""));
    if (!sig) return fail(ErrorCode::kInternal, "bad signature from the core");
    return Bytes(sig->bytes().begin(), sig->bytes().end());
  });
  w.ended = true;
  if (w.core.down()) {
    const auto failed = writer.failure();
    return reason +
           (failed ? "; recording failed: " + failed->message
                   : std::string("; recording flushed without its closing record")) +
           " (no core to sign it)";
  }
  if (!summary) reason += "; recording not closed: " + summary.error().message;
  (void)w.core.ask({{"type", "session_end"}, {"reason", reason}});
  return reason;
}

// Files still open and SFTP changes still unanswered when the session ends become events.
void finish_tracking(Worker& w) {
  if (w.sftp) w.sftp->finish();
  if (w.scp) w.scp->finish();
  report_tracked(w);
}

}  // namespace

void refuse_session(Worker& w, const std::string& message) {
  const std::string text = "sekisho: " + message + (w.pty ? "\r\n" : "\n");
  ssh_channel_write_stderr(w.channel, text.data(), static_cast<std::uint32_t>(text.size()));
  ssh_channel_request_send_exit_status(w.channel, 1);
  ssh_channel_send_eof(w.channel);
  ssh_channel_close(w.channel);
}

void run_session(Worker& w, ssh_event event) {
  auto log = module_logger("ssh-worker");
  auto target = connect_target(w);
  if (!target) {
    // The core audits it (ssh.target_failed): a vaulted credential the target refuses means it
    // was changed outside the gateway. A refusal by the core itself is audited already.
    if (target.error().code != ErrorCode::kPermissionDenied) {
      (void)w.core.ask({{"type", "target_failed"}, {"detail", target.error().message}});
    }
    refuse_session(w, target.error().message);
    return;
  }
  wire::Fd dir;
  auto writer = open_writer(w, dir);
  if (!writer) {
    log->error("cannot open the recording: {}", writer.error().message);
    // kUnavailable carries the core's own refusal (a full recording disk), meant for the user.
    refuse_session(w, writer.error().code == ErrorCode::kUnavailable
                          ? writer.error().message
                          : "the gateway cannot record this session; refused");
    w.ended = true;
    return;
  }
  w.writer = writer->get();
  std::string reason = serve_request(w, target->get(), event);
  finish_tracking(w);
  reason = end_recording(w, **writer, std::move(reason));
  ssh_disconnect(target->get());
  log->info("session {}: ended: {}", w.session_id, reason);
}

}  // namespace sekisho::worker::detail
