// Time in replays: parsing the offsets and limits of `sekisho replay`, pacing records, and showing
// offsets and sizes. Pure functions, no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace sekisho::cli {

// An offset into a recording, in microseconds, from "90" or "12.5" (seconds), one number with a
// unit ("2s", "10m", "1h", "1d"), or "mm:ss" / "h:mm:ss" (with an optional ".fraction"). Zero is
// allowed; negatives and values beyond 100 days are refused.
[[nodiscard]] Result<std::int64_t> parse_offset_us(std::string_view text);

// --speed: a finite number from 0.001 to 1000000.
[[nodiscard]] Result<double> parse_speed(std::string_view text);

// How long to wait before showing a record stamped `at_us` when the previous one was shown at
// `prev_us`: the gap, capped at `idle_limit_us` (recording time; 0 means no cap), divided by
// `speed`. Records out of order wait nothing.
std::chrono::microseconds replay_delay(std::int64_t prev_us, std::int64_t at_us, double speed,
                                       std::int64_t idle_limit_us);

// "1:02.345" (m:ss.mmm) or "1:02:03.456" (h:mm:ss.mmm) for an offset in microseconds.
std::string format_offset(std::int64_t us);
// "512 B", "12.3 KiB", "4.0 MiB", "1.2 GiB".
std::string format_size(std::uint64_t bytes);

}  // namespace sekisho::cli
