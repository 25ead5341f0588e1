// The end of a live SSH session decided by the core (docs/ssh_gateway.md "Window end and kill"):
// the warning before the request's window ends, the close at its end (or when the request ends
// early, or an auditor kills the session), and SIGKILL for a worker that does not obey. The core
// pushes `notice` and `close` to the worker over the socket its monitor thread answers on, so
// every send on that socket goes through WorkerLink::send_mu.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "base/clock.hpp"

namespace sekisho::broker {

// How long a worker has to end its session after a close before the core kills it.
inline constexpr std::chrono::seconds kCloseGrace{10};

// What the core knows of one worker's session, shared by the worker's monitor thread (which
// fills it in and replies on `sock`) and the gateway's window check and kill (which push).
struct WorkerLink {
  WorkerLink(int s, pid_t p) : sock(s), pid(p) {}
  const int sock;
  const pid_t pid;     // signalled only while !ended: until then the monitor has not reaped it
  std::mutex send_mu;  // every send on `sock`: wire::send_message is not thread-safe
  std::mutex mu;       // everything below
  // Set by the monitor once the recording is open (a session row exists); the request and its
  // window end come from the core's own grant, never from the worker.
  std::string session_id, request_id, user, target;
  TimePoint window_end{};
  bool ended = false;  // the session row is finished: nothing more to push
  bool warned = false;
  std::string close_reason;  // set once: the core ended the session, and why
  TimePoint close_at{};      // when it decided so (the kill grace counts from here)
  bool close_sent = false;
  bool killed = false;
};

// Sends `body` to the worker, or returns false at once when that could block: the monitor is
// sending, or the worker has not read much of what it was sent. Callers try again later.
bool try_push(WorkerLink& link, const nlohmann::json& body);

enum class WindowStep { kNothing, kWarn, kClose, kKill };

// The next thing to do for a session whose window ends at `end`, now. `closing_since`: when the
// core decided to close it (epoch when it has not). Pure.
WindowStep window_step(TimePoint end, bool warned, TimePoint closing_since, TimePoint now,
                       std::chrono::seconds warn_before, std::chrono::seconds grace = kCloseGrace);

// "sekisho: your approved window for root@web01 ends in 5 min (at 14:05 UTC)". Minutes are
// rounded up; under a minute it says seconds (and the time to the second).
std::string window_warning(const std::string& target, TimePoint end, TimePoint now);

}  // namespace sekisho::broker
