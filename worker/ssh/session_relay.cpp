#include <libssh/server.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "base/crypto.hpp"
#include "worker/ssh/session_worker_state.hpp"

namespace sekisho::worker::detail {

std::string public_key_line(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || b64 == nullptr) return "";
  std::string line = std::string(ssh_key_type_to_char(ssh_key_type(key))) + " " + b64;
  ssh_string_free_char(b64);
  return line;
}

void set_nodelay(ssh_session s) {
  const int one = 1;
  ::setsockopt(ssh_get_fd(s), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

namespace {

constexpr std::size_t kRelayChunk = 32 * 1024;
// libssh's limit on each blocking step with the target: the key exchange, then
// the login (a loaded target, or one whose PAM asks a directory, can take seconds to answer).
constexpr long kTargetConnectSeconds = 30;
constexpr long kTargetLoginSeconds = 60;

// Speaks SSH on the target connection the core opened, has the core check the target's host key
// against the pinned one, and logs in with the vaulted credential. Returns a message for the user
// when refused.
Result<SshSession> connect_target(Worker& w) {
  if (!w.target_fd) return fail(ErrorCode::kInternal, "no target connection from the core");
  const std::string address = w.grant.value("address", "");
  const unsigned int port = w.grant.value("port", 22U);
  const std::string pinned = w.grant.value("host_key", "");
  const std::string pinned_type = pinned.substr(0, pinned.find(' '));
  const std::string host_keys =
      pinned_type == "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256" : pinned_type;
  SshSession s(ssh_new());
  if (!s) return fail(ErrorCode::kInternal, "cannot create an SSH session");
  bool no = false;
  long timeout = kTargetConnectSeconds;
  const char* none = "/dev/null";
  const std::string account = w.grant.value("account", "");
  if (ssh_options_set(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_HOST, address.c_str()) != SSH_OK ||
      // The account and an explicit ~/.ssh: libssh would otherwise take the worker's own user
      // and home from the password database, which the chroot does not have (and the local
      // user is not the target account).
      ssh_options_set(s.get(), SSH_OPTIONS_USER, account.c_str()) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_SSH_DIR, "/nonexistent") != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_PORT, &port) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_KNOWNHOSTS, none) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, none) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_HOSTKEYS, host_keys.c_str()) != SSH_OK) {
    return fail(ErrorCode::kInternal, "bad options for the target");
  }
  // libssh owns the socket from here (ssh_free closes it); SSH_OPTIONS_HOST above only names the
  // target in libssh's messages, ssh_connect connects nothing when it has a descriptor.
  socket_t fd = w.target_fd.get();
  if (ssh_options_set(s.get(), SSH_OPTIONS_FD, &fd) != SSH_OK) {
    return fail(ErrorCode::kInternal, "bad options for the target");
  }
  (void)w.target_fd.release();
  if (ssh_connect(s.get()) != SSH_OK) {
    return fail(ErrorCode::kUnavailable,
                std::string("cannot reach the target host: ") + ssh_get_error(s.get()));
  }
  timeout = kTargetLoginSeconds;
  (void)ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &timeout);
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(s.get(), &raw) != SSH_OK) {
    return fail(ErrorCode::kUnavailable, "the target host sent no host key");
  }
  SshKey presented(raw);
  auto cred = w.core.ask({{"type", "credential"}, {"host_key", public_key_line(presented.get())}});
  if (!w.core.ok(cred)) {
    // The core refused (a host key that is not the pinned one, no vaulted credential): it
    // audited why and ended the conversation. kPermissionDenied says so to run_session.
    return fail(ErrorCode::kPermissionDenied,
                cred ? cred->value("message", "refused") : "gateway error");
  }
  auto secret = wire::take_secret(*cred, "secret");
  if (!secret) return fail(ErrorCode::kInternal, "no credential from the core");
  int rc = SSH_AUTH_ERROR;
  if (cred->value("kind", "") == "key") {
    ssh_key priv = nullptr;
    const std::string text(secret->view());  // NUL-terminated for libssh; wiped at once
    const int imported =
        ssh_pki_import_privkey_base64(text.c_str(), nullptr, nullptr, nullptr, &priv);
    wipe(const_cast<char*>(text.data()), text.size());
    if (imported == SSH_OK) {
      SshKey k(priv);
      rc = ssh_userauth_publickey(s.get(), nullptr, k.get());
    }
  } else {
    const std::string password(secret->view());
    rc = ssh_userauth_password(s.get(), nullptr, password.c_str());
    wipe(const_cast<char*>(password.data()), password.size());
  }
  if (rc == SSH_AUTH_DENIED) {
    return fail(ErrorCode::kUnauthenticated, "the target refused the vaulted credential");
  }
  if (rc == SSH_AUTH_PARTIAL) {
    return fail(ErrorCode::kUnauthenticated,
                "the target asks for more than the vaulted credential (a second factor)");
  }
  if (rc == SSH_AUTH_AGAIN) {  // libssh's answer in blocking mode when the limit passed
    return fail(ErrorCode::kUnavailable, "the target did not answer the login within " +
                                             std::to_string(kTargetLoginSeconds) + " s");
  }
  if (rc != SSH_AUTH_SUCCESS) {
    // A dropped connection or a protocol error: not a verdict on the credential.
    return fail(ErrorCode::kUnavailable,
                std::string("the login to the target failed: ") + ssh_get_error(s.get()));
  }
  return s;
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

void on_exit_signal(ssh_session, ssh_channel, const char* sig, int core, const char*, const char*,
                    void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  try {
    w.exit_signal = sig != nullptr ? std::string(sig).substr(0, 32) : "KILL";
  } catch (...) {
  }
  w.exit_core = core != 0;
}

// What libssh holds unread for `stream` of `c`; no poll() when no data came since it was empty.
int buffered(Worker& w, ssh_channel c, int stream) {
  bool& flag = w.unread_flag(c, stream);
  if (!flag) return 0;
  const int n = ssh_channel_poll(c, stream);
  if (n <= 0) flag = false;
  return n;
}

// Moves what `from` holds on one stream to `to`, at most what `to`'s window takes (notes pitfall
// 3): bytes left in libssh's buffer are back-pressure. Returns bytes moved.
int pump(Worker& w, ssh_channel from, ssh_channel to, bool is_stderr, recorder::RecordKind kind) {
  std::array<char, kRelayChunk> buf;
  int moved = 0;
  for (int i = 0; i < 64; ++i) {
    const int avail = buffered(w, from, is_stderr ? 1 : 0);
    if (avail <= 0) break;
    const std::uint32_t window = ssh_channel_window_size(to);
    const std::size_t room = w.record_room();
    const auto want = std::min<std::uint32_t>(
        {static_cast<std::uint32_t>(avail), window, static_cast<std::uint32_t>(buf.size()),
         static_cast<std::uint32_t>(std::min<std::size_t>(room, buf.size()))});
    if (room == 0) w.record_waiting = true;
    if (want == 0) break;
    const int n = ssh_channel_read_nonblocking(from, buf.data(), want, is_stderr ? 1 : 0);
    if (n <= 0) break;
    const auto size = static_cast<std::uint32_t>(n);
    const int written = is_stderr && kind == recorder::RecordKind::kOutput
                            ? ssh_channel_write_stderr(to, buf.data(), size)
                            : ssh_channel_write(to, buf.data(), size);
    if (written < 0) break;
    recorder::Record r;
    r.kind = kind;
    r.data.assign(buf.data(), size);
    w.record(std::move(r));
    moved += n;
  }
  return moved;
}

int on_core_readable(socket_t, int, void* ud) {
  static_cast<Worker*>(ud)->core_readable = true;
  return 0;
}

// A line from the core for the user (on the channel's stderr) and the recording (a marker).
void tell_user(Worker& w, const std::string& line, const std::string& marker) {
  const std::string text = line + (w.pty ? "\r\n" : "\n");
  ssh_channel_write_stderr(w.channel, text.data(), static_cast<std::uint32_t>(text.size()));
  recorder::Record r;
  r.kind = recorder::RecordKind::kMarker;
  r.data = marker;
  w.record(std::move(r));
}

// What the core pushed (docs/ssh_gateway.md "Window end and kill"): notices are shown and
// recorded; a close ends the session with the core's reason, which the caller returns.
std::optional<std::string> handle_pushes(Worker& w) {
  // Looking at the socket costs a poll() per relay round: only when the event loop saw it
  // readable (a hang-up counts), a push was set aside by ask(), or an ask() found the core gone.
  if (w.core_watched && !w.core_readable && !w.core.has_pending() && !w.core.down()) {
    return std::nullopt;
  }
  w.core_readable = false;
  for (const auto& push : w.core.take_pushes()) {
    const auto text_of = [&](const char* key) {
      const auto it = push.find(key);
      std::string s = it != push.end() && it->is_string() ? it->get<std::string>() : "";
      s = s.substr(0, 300);
      for (char& c : s) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
      }
      return s;
    };
    if (push.value("type", "") == "notice") {
      const std::string text = text_of("text");
      tell_user(w, text, "notice: " + text);
      continue;
    }
    std::string reason = text_of("reason");
    if (reason.empty()) reason = "closed by the gateway";
    if (push.value("core_gone", false)) {
      // Nobody watches this session any more: it stops here, and the core seals its recording
      // when it starts again (docs/ssh_gateway.md "When the core dies").
      tell_user(w, kCoreGoneLine, "gateway stopped: the core is gone");
    } else {
      tell_user(w, "sekisho: session closed: " + reason, "session closed: " + reason);
    }
    ssh_channel_close(w.target_channel);
    ssh_channel_send_eof(w.channel);
    ssh_channel_close(w.channel);
    return reason;
  }
  return std::nullopt;
}

// Bytes on their way to one channel, written as its window allows.
struct Outbox {
  std::string buf;
  std::size_t off = 0;
  std::size_t size() const { return buf.size() - off; }
};

void flush(ssh_channel to, Outbox& o) {
  while (o.size() > 0) {
    const auto n = std::min<std::size_t>({o.size(), ssh_channel_window_size(to), kRelayChunk});
    if (n == 0) break;
    const int written = ssh_channel_write(to, o.buf.data() + o.off, static_cast<std::uint32_t>(n));
    if (written <= 0) break;
    o.off += static_cast<std::size_t>(written);
  }
  if (o.off == o.buf.size()) {
    o.buf.clear();
    o.off = 0;
  } else if (o.off > (1U << 20)) {
    o.buf.erase(0, o.off);
    o.off = 0;
  }
}

// Each completed transfer: a kFileTransfer record (a zero digest and a marker with the reason
// when the hash could not be computed) and the core's session.file_transfer audit event.
void report_transfers(Worker& w, std::vector<TransferEvent> events, const char* protocol) {
  for (auto& e : events) {
    recorder::Record r;
    r.kind = recorder::RecordKind::kFileTransfer;
    r.transfer.upload = e.upload;
    r.transfer.path = e.path;
    r.transfer.size = e.size;
    if (e.sha256) r.transfer.sha256 = *e.sha256;
    w.record(std::move(r));
    if (!e.note.empty()) {
      recorder::Record m;
      m.kind = recorder::RecordKind::kMarker;
      m.data = "file " + e.path + ": " + e.note;
      w.record(std::move(m));
    }
    json body = {{"type", "file_transfer"},
                 {"path", e.path},
                 {"direction", e.upload ? "upload" : "download"},
                 {"size", e.size},
                 {"sha256", e.sha256 ? hex_encode(*e.sha256) : std::string()},
                 {"protocol", protocol}};
    if (!e.note.empty()) body["note"] = e.note;
    if (!w.ended) (void)w.core.ask(body);
  }
}

// Each SFTP request that changed the target: a recording marker and the core's
// session.file_change audit event (the file_transfer message with an "operation").
void report_changes(Worker& w, std::vector<FileChange> changes) {
  for (auto& c : changes) {
    recorder::Record m;
    m.kind = recorder::RecordKind::kMarker;
    m.data = "file " + c.operation + " " + c.path +
             (c.new_path.empty() ? "" : " -> " + c.new_path) + " (" + c.result + ")";
    w.record(std::move(m));
    json body = {{"type", "file_transfer"},
                 {"operation", c.operation},
                 {"path", c.path},
                 {"result", c.result},
                 {"protocol", "sftp"}};
    if (!c.new_path.empty()) body["new_path"] = c.new_path;
    if (!w.ended) (void)w.core.ask(body);
  }
}

// Ends a transfer session whose stream the parser can no longer follow: its bytes would
// otherwise pass neither parsed nor recorded.
std::string end_unfollowed(Worker& w, const std::string& protocol, const std::string& why) {
  const std::string shown = protocol == "sftp" ? "SFTP" : protocol;
  tell_user(w, "sekisho: the " + shown + " stream cannot be followed; the session is ended",
            protocol + " not followed: " + why);
  ssh_channel_close(w.target_channel);
  ssh_channel_send_eof(w.channel);
  ssh_channel_close(w.channel);
  return protocol + " stream not followed";
}

// One chunk of a legacy scp channel: the direction of the file data goes through the tracker
// (its bytes are not recorded, the transfer records are), the other direction (the sink's
// acknowledgements and error lines) is recorded byte for byte.
void scp_chunk(Worker& w, bool up, std::string_view in, Outbox& out) {
  if (w.scp->upload() == up) {
    w.scp->feed(in);
    if (w.scp->lost()) return;  // the relay ends the session; nothing unparsed goes on
  } else {
    recorder::Record r;
    r.kind = up ? recorder::RecordKind::kInput : recorder::RecordKind::kOutput;
    r.data.assign(in.data(), in.size());
    w.record(std::move(r));
  }
  out.buf.append(in);
}

// The relay of a transfer channel's data (sftp subsystem, legacy scp): both directions go through
// the parser (for scp, the direction without file data is recorded instead). Its parsed bytes are
// not recorded (the file-transfer records are); stderr is, by pump(). Stops reading as soon as
// the parser is lost: the caller ends the session.
void pump_transfer(Worker& w, Outbox& to_target, Outbox& to_client) {
  std::array<char, kRelayChunk> buf;
  flush(w.target_channel, to_target);
  flush(w.channel, to_client);
  for (int dir = 0; dir < 2; ++dir) {
    const bool up = dir == 0;
    ssh_channel from = up ? w.channel : w.target_channel;
    Outbox& out = up ? to_target : to_client;
    for (int i = 0; i < 64 && out.size() < 2 * kRelayChunk; ++i) {
      const int avail = buffered(w, from, 0);
      if (avail <= 0) break;
      const int n = ssh_channel_read_nonblocking(
          from, buf.data(), std::min<std::uint32_t>(static_cast<std::uint32_t>(avail), kRelayChunk),
          0);
      if (n <= 0) break;
      const std::string_view in(buf.data(), static_cast<std::size_t>(n));
      if (w.sftp && up) {
        w.sftp->from_client(in, to_target.buf, to_client.buf);
      } else if (w.sftp) {
        w.sftp->from_target(in, to_client.buf);
      } else {
        scp_chunk(w, up, in, out);
      }
      if ((w.sftp && w.sftp->lost()) || (w.scp && w.scp->lost())) break;
      flush(w.target_channel, to_target);
      flush(w.channel, to_client);
    }
  }
  if (w.sftp) {
    for (const auto& refused : w.sftp->take_refusals()) {
      const auto sp = refused.find(' ');
      w.report_refusal(refused.substr(0, sp), refused.substr(sp + 1));
    }
    report_transfers(w, w.sftp->take_events(), "sftp");
    report_changes(w, w.sftp->take_changes());
  } else if (w.scp) {
    report_transfers(w, w.scp->take_events(), "scp");
  }
}

// The end reason that goes to the session row, and the client's exit status/signal.
std::string relay(Worker& w, ssh_session target, ssh_event event) {
  const auto drained = [](ssh_channel c) {
    return ssh_channel_poll(c, 0) <= 0 && ssh_channel_poll(c, 1) <= 0;
  };
  bool eof_to_target = false;
  Outbox to_target, to_client;
  const bool transfer = w.sftp || w.scp;
  // Whether bytes already sit in libssh's buffers with room to move them: reading one stream can
  // pull another stream's packet off the socket, and poll() would then not wake for it.
  const auto more_ready = [&] {
    const auto movable = [&w](ssh_channel from, int stream, ssh_channel to) {
      return buffered(w, from, stream) > 0 && ssh_channel_window_size(to) > 0;
    };
    return movable(w.target_channel, 0, w.channel) || movable(w.target_channel, 1, w.channel) ||
           movable(w.channel, 0, w.target_channel) ||
           (to_client.size() > 0 && ssh_channel_window_size(w.channel) > 0) ||
           (to_target.size() > 0 && ssh_channel_window_size(w.target_channel) > 0);
  };
  bool again = false;
  for (;;) {
    // Waiting for the recorder (back-pressure): look again soon, as its queue drains.
    const int rc = ssh_event_dopoll(event, again ? 0 : w.record_waiting ? 5 : 200);
    w.data_seen = false;
    w.record_waiting = false;
    if (transfer) {
      pump_transfer(w, to_target, to_client);
      // Neither the policy nor the recording holds on a stream that cannot be followed.
      if (w.sftp && w.sftp->lost()) return end_unfollowed(w, "sftp", w.sftp->lost_reason());
      if (w.scp && w.scp->lost()) return end_unfollowed(w, "scp", w.scp->lost_reason());
    } else {
      pump(w, w.channel, w.target_channel, false, recorder::RecordKind::kInput);
      pump(w, w.target_channel, w.channel, false, recorder::RecordKind::kOutput);
    }
    pump(w, w.target_channel, w.channel, true, recorder::RecordKind::kOutput);
    if (w.record_failed) {
      const std::string text =
          std::string("sekisho: recording failed; the session is ended") + (w.pty ? "\r\n" : "\n");
      ssh_channel_write_stderr(w.channel, text.data(), static_cast<std::uint32_t>(text.size()));
      ssh_channel_close(w.target_channel);
      auto why = w.writer->failure();
      return "recording failed: " + (why ? why->message : std::string("queue full"));
    }
    if (auto closed = handle_pushes(w)) return *closed;
    if (!eof_to_target && ssh_channel_is_eof(w.channel) && ssh_channel_poll(w.channel, 0) <= 0 &&
        to_target.size() == 0) {
      ssh_channel_send_eof(w.target_channel);
      eof_to_target = true;
    }
    if (ssh_channel_is_closed(w.target_channel) && drained(w.target_channel)) {
      // What the parser still holds goes out before the close (bounded: the client's window).
      for (int i = 0; i < 200 && to_client.size() > 0 && ssh_is_connected(w.client); ++i) {
        flush(w.channel, to_client);
        if (to_client.size() > 0) ssh_event_dopoll(event, 50);
      }
      break;
    }
    if (ssh_channel_is_closed(w.channel) || !ssh_is_connected(w.client)) {
      ssh_channel_close(w.target_channel);
      return "client disconnected";
    }
    if (rc == SSH_ERROR && !ssh_is_connected(target)) break;
    // While the recorder is behind, bytes wait in libssh on purpose: no busy loop over them.
    const bool ready = more_ready();
    again = !w.record_waiting && (ready || w.data_seen);
  }
  // Forward in order (notes pitfall 4): data (above), exit status or signal, EOF, close.
  std::string reason = "target closed";
  if (!w.exit_signal.empty()) {
    ssh_channel_request_send_exit_signal(w.channel, w.exit_signal.c_str(), w.exit_core ? 1 : 0, "",
                                         "");
    reason = "signal " + w.exit_signal;
  } else if (w.exit_status) {
    ssh_channel_request_send_exit_status(w.channel, *w.exit_status);
    reason = "exit " + std::to_string(*w.exit_status);
  }
  ssh_channel_send_eof(w.channel);
  ssh_channel_close(w.channel);
  return reason;
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

}  // namespace

// Tells the client why its session cannot start, then ends the channel with status 1.
void refuse_session(Worker& w, const std::string& message) {
  const std::string text = "sekisho: " + message + (w.pty ? "\r\n" : "\n");
  ssh_channel_write_stderr(w.channel, text.data(), static_cast<std::uint32_t>(text.size()));
  ssh_channel_request_send_exit_status(w.channel, 1);
  ssh_channel_send_eof(w.channel);
  ssh_channel_close(w.channel);
}

// Runs the granted session: target login, recording, relay, signed close, end. Returns the
// session's end reason, or an error whose message the user sees.
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
  std::string reason;
  bool refused = false;
  const TransferPolicy policy{w.grant.value("allow_upload", true),
                              w.grant.value("allow_download", true)};
  if (w.start == Start::kSftp) {
    w.sftp = std::make_unique<SftpFilter>(policy);
    recorder::Record r;
    r.kind = recorder::RecordKind::kMarker;
    r.data = "subsystem: sftp";
    w.record(std::move(r));
  } else if (w.start == Start::kExec) {
    w.scp = ScpTracker::from_command(w.command);
    if (w.scp && !(w.scp->upload() ? policy.upload : policy.download)) {
      const std::string what = w.scp->upload() ? "upload" : "download";
      w.report_refusal(what, w.scp->path());
      refuse_session(w, what + " is refused by the gateway's policy");
      w.scp.reset();
      reason = what + " refused by policy";
      refused = true;
    }
  }
  if (w.start == Start::kExec) {
    recorder::Record r;
    r.kind = recorder::RecordKind::kMarker;
    r.data = "exec: " + w.command.substr(0, 4096);
    w.record(std::move(r));
  }
  if (refused) {
    // the exec was refused above; the target channel is never opened
  } else if (auto started = start_target_channel(w, target->get()); !started) {
    refuse_session(w, started.error().message);
    reason = started.error().message;
  } else {
    ssh_set_blocking(target->get(), 0);
    ssh_set_blocking(w.client, 0);
    ssh_event_add_session(event, target->get());
    // The core's pushes wake the relay at once; handle_pushes() reads them after the poll.
    w.core_watched = ssh_event_add_fd(event, wire::kCoreFd, POLLIN, on_core_readable, &w) == SSH_OK;
    reason = relay(w, target->get(), event);
    if (w.core_watched) ssh_event_remove_fd(event, wire::kCoreFd);
    w.core_watched = false;
    ssh_event_remove_session(event, target->get());
    ssh_set_blocking(w.client, 1);
  }
  if (w.sftp) {
    w.sftp->finish();
    report_transfers(w, w.sftp->take_events(), "sftp");
    report_changes(w, w.sftp->take_changes());
  } else if (w.scp) {
    w.scp->finish();
    report_transfers(w, w.scp->take_events(), "scp");
  }
  reason = end_recording(w, **writer, std::move(reason));
  ssh_disconnect(target->get());
  log->info("session {}: ended: {}", w.session_id, reason);
}

}  // namespace sekisho::worker::detail
