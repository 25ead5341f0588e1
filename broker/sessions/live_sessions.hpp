// The core's registry of live sessions, whatever their protocol, and the end of them that the core
// decides (docs/ssh_gateway.md "Window end and kill"): the warning before the request's window
// ends, the close at its end or when the request ends early, a kill by an auditor or of a user
// who is cut off, and the forced end of a session that ignores its close. A protocol gateway
// (SSH today, RDP next) registers each of its sessions and says how to warn, close and force
// it; the decisions, their audit events and the API's kill live here, once.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "storage/audit_log.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// One live session as the core sees it. The protocol gateway fills in the identity once the
// session's recording is open and sets `ended` once its row is finished; LiveSessions records
// here what it decided. The request and window end come from the core's own grant, never from a
// worker.
class LiveSession {
 public:
  virtual ~LiveSession() = default;

  std::mutex mu;  // everything below, and every call of the controls
  std::string session_id, request_id, user, target;
  TimePoint window_end{};
  bool ended = false;  // the session row is finished: no control is called any more
  bool warned = false;
  std::string close_reason;  // set once: the core ended the session, and why
  TimePoint close_at{};  // when it decided so (the grace before the forced end counts from here)
  bool close_sent = false;
  bool killed = false;

  // The controls, through which LiveSessions acts on the session. Each is called with `mu` held
  // and only while the session is not `ended`, and must not block: false means "not now", and
  // LiveSessions tries again on its next round (each second).
  // Shows `text` to the user (SSH: a line on the client's stderr).
  virtual bool notify_user(const std::string& text) = 0;
  // Asks the session to close now, telling the user `reason`.
  virtual bool ask_close(const std::string& reason) = 0;
  // Ends the session by force: it did not close within the grace (SSH: SIGKILL to its worker).
  virtual void force_end() = 0;
};

// What LiveSessions reads and writes; all of it outlives the LiveSessions.
struct LiveSessionsContext {
  storage::Store& store;  // read: the state of each live session's request
  storage::AuditLog& audit;
  const Clock& clock;
  // How long before a request's window ends its live sessions are warned ([ssh] warn_before).
  std::chrono::seconds warn_before{300};
};

class LiveSessions {
 public:
  explicit LiveSessions(LiveSessionsContext ctx) : ctx_(ctx) {}

  // Registers a session (its identity may still be empty: it is skipped until it is filled in).
  // Any thread.
  void add(std::shared_ptr<LiveSession> session);
  // Forgets a session; its gateway calls this before the session's controls stop working (SSH:
  // before the worker's socket is closed or its pid reaped). Any thread.
  void remove(const LiveSession* session);

  // Ends the live session `session_id` now: it is asked to close with `reason` (at once, or on
  // the next round when the ask cannot go now), and forced to end if it has not ended kCloseGrace
  // later. kNotFound "no live SSH session ID" when no such session is live; kAlreadyExists when
  // it is already being closed. Not audited here (the API audits session.kill). Any thread.
  [[nodiscard]] Result<void> kill(const std::string& session_id, const std::string& reason);
  // Ends every live session of gateway user `user` now, as kill() does, with `reason` as the
  // session's end reason, and audits session.close for each. Sessions already being closed keep
  // their first reason. Returns how many it began to close. Any thread.
  std::size_t end_sessions_of(const std::string& user, const std::string& reason);
  // One round of the window check (the daemon's scheduler runs it every second): warns sessions
  // whose request's window ends within warn_before (session.warned), closes those whose window
  // ended or whose request ended early (session.close), forces the end of those that ignored a
  // close for kCloseGrace (session.worker_killed), and retries asks that could not go. Any
  // thread; rounds do not overlap when one thread runs them.
  void check_windows();

 private:
  struct Event {
    std::string action, target;
    nlohmann::json details;
  };
  std::vector<std::shared_ptr<LiveSession>> live();
  // The stored state of each live session's request ("deleted" when the row is gone); empty when
  // the store cannot be read (the round then decides by the window end alone).
  std::map<std::string, std::string> request_states(
      const std::vector<std::shared_ptr<LiveSession>>& sessions);
  // Decides for one session (with its mu held): warn or close it, ask again, or force its end.
  void check_one(LiveSession& s, const std::map<std::string, std::string>& request_states,
                 TimePoint now, std::vector<Event>& events);
  void audit(const std::vector<Event>& events);

  LiveSessionsContext ctx_;
  std::mutex mu_;  // sessions_
  std::vector<std::shared_ptr<LiveSession>> sessions_;
};

}  // namespace sekisho::broker
