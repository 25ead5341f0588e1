// AuditRateLimit: bounds how many audit events of one kind a single source address can cause per
// window (the SSH gateway's failed key probes), so that a client offering key after key, over
// connection after connection, cannot flood the audit trail.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/clock.hpp"

namespace sekisho::broker {

class AuditRateLimit {
 public:
  enum class Verdict {
    kAudit,      // write the event
    kSummarise,  // the first one over the limit: write one summarising event instead
    kSuppress,   // write nothing (counted; the next audited event reports the count)
  };
  struct Decision {
    Verdict verdict = Verdict::kAudit;
    std::uint64_t suppressed_before = 0;  // events suppressed in this source's previous window
  };

  // `per_window` events per source address in each `window` (which starts at the source's first
  // event). `clock` must outlive the limiter.
  AuditRateLimit(std::size_t per_window, std::chrono::seconds window, const Clock& clock)
      : per_window_(per_window), window_(window), clock_(clock) {}

  // Decides about one event from `source`. Thread-safe. Keeps at most kMaxSources sources; when
  // full, windows that have ended are dropped (and, if none has, all of them: the limit then
  // starts again, erring on the side of auditing).
  Decision admit(const std::string& source);

  std::size_t per_window() const { return per_window_; }
  std::chrono::seconds window() const { return window_; }

  static constexpr std::size_t kMaxSources = 10000;

 private:
  struct Window {
    TimePoint start{};
    std::size_t count = 0;
    std::uint64_t suppressed = 0;
  };
  void make_room(TimePoint now);

  std::size_t per_window_;
  std::chrono::seconds window_;
  const Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> sources_;
};

}  // namespace sekisho::broker
