// The relay of a granted SSH session: bytes between the client's channel and the target's, as
// each side's window allows, every chunk recorded; the core's pushes; the end in SSH's order.
// This is the per-byte path: no allocation or virtual call per chunk.
#include <libssh/libssh.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "worker/ssh/session_worker_state.hpp"

namespace sekisho::worker::detail {

namespace {

constexpr std::size_t kRelayChunk = 32 * 1024;

// What libssh holds unread for `stream` of `c`; no poll() when no data came since it was empty.
int buffered(Worker& w, ssh_channel c, int stream) {
  bool& flag = w.unread_flag(c, stream);
  if (!flag) return 0;
  const int n = ssh_channel_poll(c, stream);
  if (n <= 0) flag = false;
  return n;
}

// Moves what `from` holds on one stream to `to`, at most what `to`'s window takes. libssh has no
// callback for a window that opens: bytes left in its buffer are the back-pressure, and the relay
// offers them again after every poll. Returns bytes moved.
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

// A push's text field: bounded, control characters blanked (it reaches the user's terminal).
std::string push_text(const json& push, const char* key) {
  const auto it = push.find(key);
  std::string s = it != push.end() && it->is_string() ? it->get<std::string>() : "";
  s = s.substr(0, 300);
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s;
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
    if (push.value("type", "") == "notice") {
      const std::string text = push_text(push, "text");
      tell_user(w, text, "notice: " + text);
      continue;
    }
    std::string reason = push_text(push, "reason");
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
  report_tracked(w);
}

// The relay's state besides the Worker's: the target side, the bytes a transfer parser holds
// for each channel, and whether the client's EOF went on.
struct Relay {
  Worker& w;
  ssh_session target;
  ssh_event event;
  Outbox to_target, to_client;
  bool eof_to_target = false;
};

// One round of moving data, both ways and the target's stderr. Returns the end reason when a
// transfer parser lost the stream: neither the policy nor the recording holds on a stream that
// cannot be followed.
std::optional<std::string> move_data(Relay& r) {
  Worker& w = r.w;
  if (w.sftp || w.scp) {
    pump_transfer(w, r.to_target, r.to_client);
    if ((w.sftp && w.sftp->lost()) || (w.scp && w.scp->lost())) return end_unfollowed(w);
  } else {
    pump(w, w.channel, w.target_channel, false, recorder::RecordKind::kInput);
    pump(w, w.target_channel, w.channel, false, recorder::RecordKind::kOutput);
  }
  pump(w, w.target_channel, w.channel, true, recorder::RecordKind::kOutput);
  return std::nullopt;
}

// The recording cannot take the session's bytes: the user is told and the session ends.
std::string end_for_recording(Worker& w) {
  const std::string text =
      std::string("sekisho: recording failed; the session is ended") + (w.pty ? "\r\n" : "\n");
  ssh_channel_write_stderr(w.channel, text.data(), static_cast<std::uint32_t>(text.size()));
  ssh_channel_close(w.target_channel);
  auto why = w.writer->failure();
  return "recording failed: " + (why ? why->message : std::string("queue full"));
}

// The client's EOF goes to the target once the client's data has all gone there.
void forward_client_eof(Relay& r) {
  Worker& w = r.w;
  if (!r.eof_to_target && ssh_channel_is_eof(w.channel) && ssh_channel_poll(w.channel, 0) <= 0 &&
      r.to_target.size() == 0) {
    ssh_channel_send_eof(w.target_channel);
    r.eof_to_target = true;
  }
}

// Whether the target closed its channel and everything it sent was read. Then what a parser
// still holds for the client goes out first (bounded: the client's window).
bool target_finished(Relay& r) {
  Worker& w = r.w;
  if (!ssh_channel_is_closed(w.target_channel) || ssh_channel_poll(w.target_channel, 0) > 0 ||
      ssh_channel_poll(w.target_channel, 1) > 0) {
    return false;
  }
  for (int i = 0; i < 200 && r.to_client.size() > 0 && ssh_is_connected(w.client); ++i) {
    flush(w.channel, r.to_client);
    if (r.to_client.size() > 0) ssh_event_dopoll(r.event, 50);
  }
  return true;
}

// Whether bytes already sit in libssh's buffers with room to move them: reading one stream can
// pull another stream's packet off the socket, and poll() would then not wake for it.
bool more_ready(Relay& r) {
  Worker& w = r.w;
  const auto movable = [&w](ssh_channel from, int stream, ssh_channel to) {
    return buffered(w, from, stream) > 0 && ssh_channel_window_size(to) > 0;
  };
  return movable(w.target_channel, 0, w.channel) || movable(w.target_channel, 1, w.channel) ||
         movable(w.channel, 0, w.target_channel) ||
         (r.to_client.size() > 0 && ssh_channel_window_size(w.channel) > 0) ||
         (r.to_target.size() > 0 && ssh_channel_window_size(w.target_channel) > 0);
}

// The target's channel ended: its exit status or signal, EOF and close go to the client in the
// order SSH allows (no data after an EOF, nothing after a close, so a late status would be lost).
// Returns the end reason.
std::string forward_exit(Worker& w) {
  std::string reason = "target closed";
  if (!w.exit_signal.empty()) {
    ssh_channel_request_send_exit_signal(w.channel, w.exit_signal.c_str(),
                                         w.exit_core_dumped ? 1 : 0, "", "");
    reason = "signal " + w.exit_signal;
  } else if (w.exit_status) {
    ssh_channel_request_send_exit_status(w.channel, *w.exit_status);
    reason = "exit " + std::to_string(*w.exit_status);
  }
  ssh_channel_send_eof(w.channel);
  ssh_channel_close(w.channel);
  return reason;
}

// The relay loop; returns the end reason that goes to the session row.
std::string relay(Worker& w, ssh_session target, ssh_event event) {
  Relay r{w, target, event, {}, {}, false};
  bool again = false;
  for (;;) {
    // Waiting for the recorder (back-pressure): look again soon, as its queue drains.
    const int rc = ssh_event_dopoll(event, again ? 0 : w.record_waiting ? 5 : 200);
    w.data_seen = false;
    w.record_waiting = false;
    if (auto unfollowed = move_data(r)) return *unfollowed;
    if (w.record_failed) return end_for_recording(w);
    if (auto closed = handle_pushes(w)) return *closed;
    forward_client_eof(r);
    if (target_finished(r)) return forward_exit(w);
    if (ssh_channel_is_closed(w.channel) || !ssh_is_connected(w.client)) {
      ssh_channel_close(w.target_channel);
      return "client disconnected";
    }
    if (rc == SSH_ERROR && !ssh_is_connected(target)) return forward_exit(w);
    // While the recorder is behind, bytes wait in libssh on purpose: no busy loop over them.
    const bool ready = more_ready(r);
    again = !w.record_waiting && (ready || w.data_seen);
  }
}

}  // namespace

// A line from the core for the user (on the channel's stderr) and the recording (a marker).
void tell_user(Worker& w, const std::string& line, const std::string& marker) {
  const std::string text = line + (w.pty ? "\r\n" : "\n");
  ssh_channel_write_stderr(w.channel, text.data(), static_cast<std::uint32_t>(text.size()));
  recorder::Record r;
  r.kind = recorder::RecordKind::kMarker;
  r.data = marker;
  w.record(std::move(r));
}

std::string relay_session(Worker& w, ssh_session target, ssh_event event) {
  ssh_set_blocking(target, 0);
  ssh_set_blocking(w.client, 0);
  ssh_event_add_session(event, target);
  // The core's pushes wake the relay at once; handle_pushes() reads them after the poll.
  w.core_watched = ssh_event_add_fd(event, wire::kCoreFd, POLLIN, on_core_readable, &w) == SSH_OK;
  std::string reason = relay(w, target, event);
  if (w.core_watched) ssh_event_remove_fd(event, wire::kCoreFd);
  w.core_watched = false;
  ssh_event_remove_session(event, target);
  ssh_set_blocking(w.client, 1);
  return reason;
}

}  // namespace sekisho::worker::detail
