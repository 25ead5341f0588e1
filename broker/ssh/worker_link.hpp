// One SSH worker's live session as the core's LiveSessions sees it: the core pushes `notice` and
// `close` to the worker over the socket its monitor thread answers on, so every send on that
// socket goes through WorkerLink::send_mu, and a forced end is SIGKILL to the worker.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "broker/sessions/live_sessions.hpp"

namespace sekisho::broker {

// What the core knows of one worker's session, shared by the worker's monitor thread (which
// fills in the LiveSession part and replies on `sock`) and LiveSessions (which pushes).
struct WorkerLink final : LiveSession {
  WorkerLink(int s, pid_t p) : sock(s), pid(p) {}
  const int sock;
  const pid_t pid;     // signalled only while !ended: until then the monitor has not reaped it
  std::mutex send_mu;  // every send on `sock`: wire::send_message is not thread-safe

  bool notify_user(const std::string& text) override;  // pushes `notice`
  bool ask_close(const std::string& reason) override;  // pushes `close`
  void force_end() override;                           // SIGKILL
};

// Sends `body` to the worker, or returns false at once when that could block: the monitor is
// sending, or the worker has not read much of what it was sent. Callers try again later.
bool try_push(WorkerLink& link, const nlohmann::json& body);

}  // namespace sekisho::broker
