#include "base/clock.hpp"

#include <cstdio>
#include <ctime>

namespace sekisho {

std::string format_time(TimePoint t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  long frac = static_cast<long>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

Result<TimePoint> parse_time(const std::string& text) {
  int y, mo, d, h, mi, s, consumed = 0;
  if (text.size() > 40 || std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h,
                                      &mi, &s, &consumed) != 6) {
    return fail(ErrorCode::kInvalidArgument,
                "not an ISO 8601 UTC time: '" + text.substr(0, 40) + "'");
  }
  long ms = 0;
  std::size_t pos = static_cast<std::size_t>(consumed);
  if (pos < text.size() && text[pos] == '.') {
    int digits = 0;
    ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) ms = ms * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (pos + 1 != text.size() || text[pos] != 'Z' || mo < 1 || mo > 12 || d < 1 || d > 31 ||
      h > 23 || mi > 59 || s > 60) {
    return fail(ErrorCode::kInvalidArgument,
                "not an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SSZ): '" + text + "'");
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t secs = timegm(&tm);
  return TimePoint(std::chrono::seconds(secs)) + std::chrono::milliseconds(ms);
}

std::string format_duration(std::chrono::seconds duration) {
  const auto n = duration.count();
  if (n != 0 && n % 86400 == 0) return std::to_string(n / 86400) + "d";
  if (n != 0 && n % 3600 == 0) return std::to_string(n / 3600) + "h";
  if (n != 0 && n % 60 == 0) return std::to_string(n / 60) + "m";
  return std::to_string(n) + "s";
}

Result<std::chrono::seconds> parse_duration(const std::string& text) {
  if (text.size() < 2 || text.size() > 12) {
    return fail(ErrorCode::kInvalidArgument,
                "not a duration (like 30s, 15m, 8h, 7d): '" + text.substr(0, 12) + "'");
  }
  long long value = 0;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return fail(ErrorCode::kInvalidArgument,
                  "not a duration (like 30s, 15m, 8h, 7d): '" + text + "'");
    }
    value = value * 10 + (text[i] - '0');
  }
  long long unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return fail(ErrorCode::kInvalidArgument,
                  "not a duration (like 30s, 15m, 8h, 7d): '" + text + "'");
  }
  if (value <= 0 || value > 10LL * 366 * 86400 / unit) {
    return fail(ErrorCode::kInvalidArgument,
                "duration out of range (1s to 10 years): '" + text + "'");
  }
  return std::chrono::seconds(value * unit);
}

}  // namespace sekisho
