#include "broker/sessions/audit_rate_limit.hpp"

namespace sekisho::broker {

void AuditRateLimit::make_room(TimePoint now) {
  for (auto it = sources_.begin(); it != sources_.end();) {
    it = now - it->second.start >= window_ ? sources_.erase(it) : std::next(it);
  }
  if (sources_.size() >= kMaxSources) sources_.clear();
}

AuditRateLimit::Decision AuditRateLimit::admit(const std::string& source) {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.now();
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (sources_.size() >= kMaxSources) make_room(now);
    it = sources_.emplace(source, Window{now, 0, 0}).first;
  }
  Window& w = it->second;
  Decision d;
  if (now - w.start >= window_) {  // a new window; report what the last one held back
    d.suppressed_before = w.suppressed;
    w = Window{now, 0, 0};
  }
  ++w.count;
  if (w.count <= per_window_) return d;
  ++w.suppressed;
  d.verdict = w.count == per_window_ + 1 ? Verdict::kSummarise : Verdict::kSuppress;
  return d;
}

}  // namespace sekisho::broker
