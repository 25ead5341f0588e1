// Internals shared by the parts of the SSH session worker: session_worker.cpp (the client side:
// key exchange, public-key login, channel requests), kbd_login.cpp (the keyboard-interactive
// login), session_run.cpp (the granted session's steps: target login, recording, target channel,
// end), session_relay.cpp (the relay loop) and session_transfers.cpp (what the file-transfer
// trackers saw). Only those files include this.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/c_handle.hpp"
#include "base/logging.hpp"
#include "privsep/core_link.hpp"
#include "privsep/worker_protocol.hpp"
#include "recorder/recording.hpp"
#include "ssh/handles.hpp"
#include "worker/ssh/file_transfer.hpp"

namespace sekisho::worker::detail {

using nlohmann::json;
using privsep::CoreLink;
using ssh::SshKey;
using ssh::SshSession;

enum class Start { kNone, kShell, kExec, kSftp };

// The one line a client sees when the core dies during its session (docs/ssh_gateway.md "When
// the core dies").
inline constexpr char kCoreGoneLine[] =
    "sekisho: the gateway stopped; this session is closed and its recording kept";

// Where a keyboard-interactive login is (session_worker.cpp): which answers the client's next
// SSH_MSG_USERAUTH_INFO_RESPONSE carries.
struct KbdLogin {
  enum class Step { kIdle, kPassword, kTotp, kNotice } step = Step::kIdle;
  std::string name;       // the SSH user name of this round (ACCOUNT@HOST or USER@ACCOUNT@HOST)
  bool ask_user = false;  // no gateway-user hint: the first prompt asks for it
  int failed_rounds = 0;
  bool closed = false;  // a final refusal was shown: no more password logins here
  // A signed key of a TOTP-enrolled user (the core is at its second factor): keyboard-interactive
  // asks only the code, and no other key is offered to the core.
  bool key_proven = false;
  // A final refusal of a signed key, shown as a keyboard-interactive notice (OpenSSH prints no
  // text for a refused key).
  std::string key_notice;
};

// Everything the callbacks share. Callbacks run on the one thread inside ssh_event_dopoll.
struct Worker {
  privsep::CoreLink core{wire::kCoreFd};
  ssh_session client = nullptr;
  bool authenticated = false;
  KbdLogin kbd;
  bool hang_up = false;  // login failed for good: end the client connection
  std::string refusal;   // set when login succeeded but the core granted nothing
  bool ended = false;    // the core has the session end; nothing more may be reported
  json grant;
  // The TCP connection to the target, opened by the core and passed with the grant: the worker
  // never connects anywhere itself (docs/ssh_gateway.md "Target connection").
  wire::Fd target_fd;
  ssh_channel channel = nullptr;  // the client's session channel (one per connection)
  bool pty = false;
  std::string term = "xterm";
  int cols = 80, rows = 24;
  std::vector<std::pair<std::string, std::string>> env;
  Start start = Start::kNone;
  std::string command;
  std::string session_id;  // for log lines, once the core opened the recording
  // Relay
  ssh_channel target_channel = nullptr;
  recorder::Writer* writer = nullptr;
  bool record_failed = false;
  bool data_seen = false;  // set by note_channel_data
  // Streams libssh may hold unread bytes for: [0] the client's channel, [1] the target's, each
  // [stdout, stderr]. Set by note_channel_data, cleared when a poll finds the stream empty:
  // ssh_channel_poll on an empty stream costs a poll() system call, several per relay round.
  bool unread[2][2] = {{true, true}, {true, true}};
  bool& unread_flag(ssh_channel c, int stream) { return unread[c == channel ? 0 : 1][stream]; }
  bool record_waiting = false;  // the relay left bytes unread for want of recorder room
  // The core's socket may hold a push: set by the event loop's callback on it (or always, when
  // the socket could not be added to the loop), cleared when the relay reads the socket.
  bool core_readable = true;
  bool core_watched = false;
  std::optional<int> exit_status;
  std::string exit_signal;
  bool exit_core_dumped = false;  // with exit_signal: the target's process left a core dump
  // File transfers (docs/ssh_gateway.md "File transfers"): at most one of the two is set.
  std::unique_ptr<SftpFilter> sftp;
  std::unique_ptr<ScpTracker> scp;
  ssh_channel_callbacks_struct client_cb{};
  ssh_channel_callbacks_struct target_cb{};
  ssh_server_callbacks_struct server_cb{};

  void report_refusal(const std::string& what, const std::string& detail) {
    module_logger("ssh-worker")
        ->info("session {}: refused {} {}", session_id.empty() ? "-" : session_id, what, detail);
    if (authenticated && !ended) {
      (void)core.ask({{"type", "refused"}, {"what", what}, {"detail", detail}});
    }
    if (channel != nullptr) {
      const std::string text =
          "sekisho: " + what + " is refused by the gateway's policy" + (pty ? "\r\n" : "\n");
      ssh_channel_write_stderr(channel, text.data(), static_cast<std::uint32_t>(text.size()));
    }
  }
  // Bytes of session data the relay may read now: the recorder's free queue minus a reserve for
  // markers and file-transfer events, and minus each record's overhead.
  std::size_t record_room() const {
    constexpr std::size_t kReserve = 64 * 1024;
    if (writer == nullptr) return std::size_t{1} << 20;
    const std::size_t room = writer->queue_room();
    return room > kReserve ? room - kReserve : 0;
  }

  void record(recorder::Record r) {
    if (writer == nullptr || record_failed) return;
    if (writer->append(std::move(r)) != recorder::AppendStatus::kOk) record_failed = true;
  }
};

// After a proven login (a signed key, or a password and any TOTP code): asks the core for the
// grant. Without one the login still succeeds, so that the reason reaches the user on the session
// channel's stderr (OpenSSH shows no banner after a failed authentication). (session_worker.cpp)
void authorize_login(Worker& w);
// A keyboard-interactive request or response (the message callback's). Returns 0 when it has
// replied, 1 for libssh's default reply (failure); sets hang_up after the last failed round or a
// final refusal the client has shown. (kbd_login.cpp)
int on_kbd(Worker& w, ssh_message msg);

// Tells the client why its session cannot start, then ends the channel with status 1.
void refuse_session(Worker& w, const std::string& message);
// Runs the granted session: target login, recording, relay, signed close, end (reported to the
// core). Any refusal reaches the user on the channel's stderr. (session_run.cpp)
void run_session(Worker& w, ssh_event event);

// Relays the session between the client's channel and the target's (open, its request sent) until
// either side ends it, the core closes it or the recording fails; returns the end reason for the
// session row. Non-blocking sessions in `event` while it runs. (session_relay.cpp)
std::string relay_session(Worker& w, ssh_session target, ssh_event event);
// A line from the core or the gateway for the user (on the channel's stderr) and the recording
// (a marker). (session_relay.cpp)
void tell_user(Worker& w, const std::string& line, const std::string& marker);

// File-transfer tracking (session_transfers.cpp, docs/ssh_gateway.md "File transfers").
// Sets up the tracker the session's request calls for (sftp subsystem, legacy scp exec). An scp
// in a direction the policy refuses is reported, told to the user and ended: returns its end
// reason then.
std::optional<std::string> start_tracking(Worker& w);
// Records, and reports to the core, what the tracker saw since the last call: refused requests,
// completed transfers and, for SFTP, changes to the target.
void report_tracked(Worker& w);
// Ends a transfer session whose stream the tracker can no longer follow (its bytes would
// otherwise pass neither parsed nor recorded); returns the end reason.
std::string end_unfollowed(Worker& w);

// Channel data callback for both channels: leaves the bytes in libssh's buffer (the relay reads
// them, as the windows allow) and notes that some arrived, so that the relay does not sleep in
// poll() for a packet that a read of another stream already took off the socket.
inline int note_channel_data(ssh_session, ssh_channel c, void*, uint32_t, int is_stderr,
                             void* ud) noexcept {
  auto& w = *static_cast<Worker*>(ud);
  w.data_seen = true;
  w.unread_flag(c, is_stderr != 0 ? 1 : 0) = true;
  return 0;
}

}  // namespace sekisho::worker::detail
