#include "broker/sessions/session_window.hpp"

#include <cstdio>
#include <ctime>

namespace sekisho::broker {

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
