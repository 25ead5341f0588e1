#include "broker/ssh/worker_link.hpp"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "base/logging.hpp"
#include "privsep/worker_protocol.hpp"

namespace sekisho::broker {

namespace {

// Bytes a push may find queued to the worker and still be sent: far below any socket buffer, so
// that send_message never waits on a worker that stopped reading.
constexpr int kMaxQueuedBytes = 16 * 1024;

}  // namespace

bool try_push(WorkerLink& link, const nlohmann::json& body) {
  std::unique_lock lock(link.send_mu, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  int queued = 0;
  if (::ioctl(link.sock, TIOCOUTQ, &queued) != 0 || queued > kMaxQueuedBytes) return false;
  return wire::send_message(link.sock, body).has_value();
}

bool WorkerLink::notify_user(const std::string& text) {
  return try_push(*this, {{"type", "notice"}, {"text", text}});
}

bool WorkerLink::ask_close(const std::string& reason) {
  return try_push(*this, {{"type", "close"}, {"reason", reason}});
}

void WorkerLink::force_end() {
  // LiveSessions calls this under mu with !ended: the monitor has not finished the row, so the
  // worker is not reaped and its pid is still its own.
  ::kill(pid, SIGKILL);
  module_logger("ssh")->warn("session {}: worker {} killed", session_id, pid);
}

}  // namespace sekisho::broker
