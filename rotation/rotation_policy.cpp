#include "rotation/rotation_policy.hpp"

#include <fnmatch.h>

namespace sekisho::rotation {

bool RotationRule::covers(const std::string& host, const std::string& group) const {
  for (const std::string& pattern : hosts) {
    if (pattern.starts_with("group:")) {
      if (!group.empty() && pattern.substr(6) == group) return true;
    } else if (fnmatch(pattern.c_str(), host.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

const RotationRule& default_rotation_rule() {
  static const RotationRule rule = [] {
    RotationRule r;
    r.name = "default";
    r.hosts = {"*"};
    return r;
  }();
  return rule;
}

const RotationRule& rule_for(const RotationSettings& settings, const std::string& host,
                             const std::string& group) {
  for (const RotationRule& rule : settings.rules) {
    if (rule.covers(host, group)) return rule;
  }
  return default_rotation_rule();
}

TimePoint next_due(TimePoint last, std::chrono::seconds every) {
  // A TimePoint counts nanoseconds (about 292 years each way): a schedule of centuries would
  // overflow the sum, so it saturates instead.
  const TimePoint::duration most = TimePoint::max().time_since_epoch();
  if (every >= std::chrono::duration_cast<std::chrono::seconds>(most)) return TimePoint::max();
  const auto step = std::chrono::duration_cast<TimePoint::duration>(every);
  if (last.time_since_epoch() > most - step) return TimePoint::max();
  return last + step;
}

bool is_due(TimePoint last, std::optional<std::chrono::seconds> every, TimePoint now) {
  if (!every) return false;
  return now >= next_due(last, *every);
}

}  // namespace sekisho::rotation
