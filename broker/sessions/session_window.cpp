#include "broker/sessions/session_window.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstdio>
#include <ctime>

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

WindowStep window_step(TimePoint end, bool warned, TimePoint closing_since, TimePoint now,
                       std::chrono::seconds warn_before, std::chrono::seconds grace) {
  if (closing_since != TimePoint{}) {
    return now >= closing_since + grace ? WindowStep::kKill : WindowStep::kNothing;
  }
  if (now >= end) return WindowStep::kClose;
  if (!warned && now >= end - warn_before) return WindowStep::kWarn;
  return WindowStep::kNothing;
}

std::string window_warning(const std::string& target, TimePoint end, TimePoint now) {
  const auto left = std::chrono::ceil<std::chrono::seconds>(end - now).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(end);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char at[16];
  std::string in;
  if (left >= 60) {
    std::snprintf(at, sizeof(at), "%02d:%02d", tm.tm_hour, tm.tm_min);
    in = std::to_string((left + 59) / 60) + " min";
  } else {
    std::snprintf(at, sizeof(at), "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
    in = std::to_string(left < 0 ? 0 : left) + " s";
  }
  return "sekisho: your approved window for " + target + " ends in " + in + " (at " + at + " UTC)";
}

}  // namespace sekisho::broker
