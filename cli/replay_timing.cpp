#include "cli/replay_timing.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

namespace sekisho::cli {

namespace {

constexpr double kMaxOffsetSeconds = 100.0 * 86400.0;

// A non-negative decimal number ("12", "12.5"); nullopt for anything else.
std::optional<double> decimal(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  bool dot = false, digit = false;
  for (char c : text) {
    if (c == '.' && !dot) {
      dot = true;
    } else if (c >= '0' && c <= '9') {
      digit = true;
    } else {
      return std::nullopt;
    }
  }
  if (!digit) return std::nullopt;
  return std::strtod(std::string(text).c_str(), nullptr);
}

Result<std::int64_t> to_us(double seconds, std::string_view text) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxOffsetSeconds) {
    return fail(ErrorCode::kInvalidArgument,
                "'" + std::string(text) + "' is not an offset between 0 and 100 days");
  }
  return static_cast<std::int64_t>(std::llround(seconds * 1e6));
}

}  // namespace

Result<std::int64_t> parse_offset_us(std::string_view text) {
  const auto bad = [&] {
    return fail(ErrorCode::kInvalidArgument,
                "'" + std::string(text.substr(0, 40)) +
                    "' is not a time offset (seconds such as 90 or 12.5, 10m, 1h, or mm:ss)");
  };
  if (text.find(':') != std::string_view::npos) {
    double total = 0;
    int parts = 0;
    std::string_view rest = text;
    while (true) {
      const auto colon = rest.find(':');
      const std::string_view part = rest.substr(0, colon);
      const bool last = colon == std::string_view::npos;
      auto value = decimal(part);
      // Only the last part may have a fraction; minutes and seconds after the first part < 60.
      if (!value || (!last && part.find('.') != std::string_view::npos)) return bad();
      if (parts > 0 && *value >= 60) return bad();
      total = total * 60 + *value;
      ++parts;
      if (last) break;
      rest = rest.substr(colon + 1);
    }
    if (parts > 3) return bad();
    return to_us(total, text);
  }
  if (auto seconds = decimal(text)) return to_us(*seconds, text);
  if (text.size() < 2) return bad();
  auto number = decimal(text.substr(0, text.size() - 1));
  if (!number) return bad();
  switch (text.back()) {
    case 's':
      return to_us(*number, text);
    case 'm':
      return to_us(*number * 60, text);
    case 'h':
      return to_us(*number * 3600, text);
    case 'd':
      return to_us(*number * 86400, text);
    default:
      return bad();
  }
}

Result<double> parse_speed(std::string_view text) {
  auto value = decimal(text);
  if (!value || *value < 0.001 || *value > 1e6) {
    return fail(ErrorCode::kInvalidArgument, "--speed must be a number from 0.001 to 1000000");
  }
  return *value;
}

std::chrono::microseconds replay_delay(std::int64_t prev_us, std::int64_t at_us, double speed,
                                       std::int64_t idle_limit_us) {
  std::int64_t gap = std::max<std::int64_t>(0, at_us - prev_us);
  if (idle_limit_us > 0) gap = std::min(gap, idle_limit_us);
  return std::chrono::microseconds(static_cast<std::int64_t>(static_cast<double>(gap) / speed));
}

std::string format_offset(std::int64_t us) {
  if (us < 0) us = 0;
  const std::int64_t ms = us / 1000;
  const long long h = ms / 3'600'000, m = ms / 60'000 % 60, s = ms / 1000 % 60, f = ms % 1000;
  char buf[48];
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld.%03lld", h, m, s, f);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld.%03lld", m, s, f);
  }
  return buf;
}

std::string format_size(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", value, units[unit]);
  return buf;
}

}  // namespace sekisho::cli
