#include "broker/sessions/live_sessions.hpp"

#include <algorithm>

#include "base/logging.hpp"
#include "broker/sessions/session_window.hpp"
#include "storage/requests.hpp"

namespace sekisho::broker {

namespace {

// Stored request states after which nothing is granted any more.
bool request_over(const std::string& state) {
  return state == "cancelled" || state == "denied" || state == "expired" || state == "closed";
}

// What every audit event about a live session says.
nlohmann::json about(const LiveSession& s) {
  return {{"session", s.session_id},
          {"request", s.request_id},
          {"user", s.user},
          {"window_end", format_time(s.window_end)}};
}

// Records the core's decision to close `s` and asks it to close (mu held).
void begin_close(LiveSession& s, const std::string& reason, TimePoint now) {
  s.close_reason = reason;
  s.close_at = now;
  // When the ask cannot go now, the window check asks again within a second.
  s.close_sent = s.ask_close(reason);
}

}  // namespace

void LiveSessions::add(std::shared_ptr<LiveSession> session) {
  std::lock_guard lock(mu_);
  sessions_.push_back(std::move(session));
}

void LiveSessions::remove(const LiveSession* session) {
  std::lock_guard lock(mu_);
  std::erase_if(sessions_, [&](const auto& s) { return s.get() == session; });
}

std::vector<std::shared_ptr<LiveSession>> LiveSessions::live() {
  std::lock_guard lock(mu_);
  return sessions_;
}

Result<void> LiveSessions::kill(const std::string& session_id, const std::string& reason) {
  std::shared_ptr<LiveSession> found;
  for (const auto& s : live()) {
    std::lock_guard lock(s->mu);
    if (s->session_id == session_id && !s->ended) found = s;
  }
  if (!found || session_id.empty()) {
    return fail(ErrorCode::kNotFound, "no live SSH session " + session_id);
  }
  std::lock_guard lock(found->mu);
  if (found->ended) return fail(ErrorCode::kNotFound, "no live SSH session " + session_id);
  if (!found->close_reason.empty()) {
    return fail(ErrorCode::kAlreadyExists,
                "session " + session_id + " is already being closed: " + found->close_reason);
  }
  begin_close(*found, reason, ctx_.clock.now());
  return ok();
}

std::size_t LiveSessions::end_sessions_of(const std::string& user, const std::string& reason) {
  std::vector<Event> closed;
  const TimePoint now = ctx_.clock.now();
  for (const auto& s : live()) {
    std::lock_guard lock(s->mu);
    if (s->session_id.empty() || s->ended || s->user != user) continue;
    if (!s->close_reason.empty()) continue;
    begin_close(*s, reason, now);
    closed.push_back({"session.close",
                      s->target,
                      {{"session", s->session_id},
                       {"request", s->request_id},
                       {"user", s->user},
                       {"reason", reason}}});
  }
  audit(closed);
  return closed.size();
}

std::map<std::string, std::string> LiveSessions::request_states(
    const std::vector<std::shared_ptr<LiveSession>>& sessions) {
  std::map<std::string, std::string> states;
  for (const auto& s : sessions) {
    std::lock_guard lock(s->mu);
    if (!s->session_id.empty() && !s->ended) states[s->request_id];
  }
  if (states.empty()) return states;
  auto read = ctx_.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    for (auto& [id, state] : states) {
      auto row = storage::find_request(tx, id);
      if (!row) return tl::make_unexpected(row.error());
      state = *row ? (*row)->state : "deleted";
    }
    return ok();
  });
  if (!read) {
    module_logger("sessions")
        ->error("window check: cannot read requests: {}", read.error().message);
    states.clear();
  }
  return states;
}

void LiveSessions::check_windows() {
  const auto sessions = live();
  // The stored state of each live session's request: one cancelled, denied or closed early
  // ends its sessions too.
  const auto states = request_states(sessions);
  std::vector<Event> events;
  const TimePoint now = ctx_.clock.now();
  for (const auto& s : sessions) {
    std::lock_guard lock(s->mu);
    if (s->session_id.empty() || s->ended) continue;
    check_one(*s, states, now, events);
  }
  audit(events);
}

void LiveSessions::check_one(LiveSession& s, const std::map<std::string, std::string>& states,
                             TimePoint now, std::vector<Event>& events) {
  if (s.close_reason.empty()) {
    const auto step = window_step(s.window_end, s.warned, TimePoint{}, now, ctx_.warn_before);
    const auto state = states.find(s.request_id);
    std::string why;
    if (step == WindowStep::kClose) {
      why = "approved window ended";
    } else if (state != states.end() && request_over(state->second)) {
      why = "request " + s.request_id + " " + state->second;
    }
    if (!why.empty()) {
      s.close_reason = why;
      s.close_at = now;
      auto details = about(s);
      details["reason"] = why;
      events.push_back({"session.close", s.target, details});
    } else if (step == WindowStep::kWarn &&
               s.notify_user(window_warning(s.target, s.window_end, now))) {
      s.warned = true;
      events.push_back({"session.warned", s.target, about(s)});
    }
  }
  if (s.close_reason.empty()) return;
  if (!s.close_sent) s.close_sent = s.ask_close(s.close_reason);
  if (!s.killed &&
      window_step(s.window_end, true, s.close_at, now, ctx_.warn_before) == WindowStep::kKill) {
    // Under s.mu with !ended: the gateway has not finished the session, so its controls still
    // reach it (SSH: the worker is not reaped and its pid is still its own).
    s.killed = true;
    s.force_end();
    module_logger("sessions")
        ->warn("session {}: did not end {} s after its close; ended by force", s.session_id,
               kCloseGrace.count());
    auto details = about(s);
    details["reason"] = s.close_reason;
    events.push_back({"session.worker_killed", s.target, details});
  }
}

void LiveSessions::audit(const std::vector<Event>& events) {
  for (const auto& e : events) {
    auto seq = ctx_.audit.append({"sekishod", e.action, e.target, e.details});
    if (!seq) {
      module_logger("sessions")->error("audit {} failed: {}", e.action, seq.error().message);
    }
  }
}

}  // namespace sekisho::broker
