// Clock: the one source of "now", injected so that expiry and schedules are testable.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "base/result.hpp"

namespace sekisho {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time. Any thread may call it.
  virtual TimePoint now() const = 0;
};

// The real clock.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to. Any thread may call it.
class TestClock final : public Clock {
 public:
  explicit TestClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint(TimePoint::duration(now_.load())); }
  void advance(std::chrono::nanoseconds by) {
    now_ += std::chrono::duration_cast<TimePoint::duration>(by).count();
  }
  void set(TimePoint t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<TimePoint::rep> now_;
};

// "2026-11-26T16:00:00.123Z": UTC, millisecond precision, the form stored and shown everywhere.
std::string format_time(TimePoint t);
// Parses what format_time writes (and the same without fraction).
Result<TimePoint> parse_time(const std::string& text);
// Parses "30s", "15m", "8h", "7d" into a duration; refuses zero, negatives and overflow.
Result<std::chrono::seconds> parse_duration(const std::string& text);
// The shortest form parse_duration reads back: 8h, 90m, 2d, 45s.
std::string format_duration(std::chrono::seconds duration);

}  // namespace sekisho
