// The end of a live session decided by the core (docs/ssh_gateway.md "Window end and kill"), as
// pure decisions: the warning before the request's window ends and its text, the close at its
// end, and the forced end of a session that does not obey a close. LiveSessions acts on them.
#pragma once

#include <chrono>
#include <string>

#include "base/clock.hpp"

namespace sekisho::broker {

// How long a session has to end after a close before the core forces its end (SSH: kills its
// worker).
inline constexpr std::chrono::seconds kCloseGrace{10};

enum class WindowStep { kNothing, kWarn, kClose, kKill };

// The next thing to do for a session whose window ends at `end`, now. `closing_since`: when the
// core decided to close it (epoch when it has not). Pure.
WindowStep window_step(TimePoint end, bool warned, TimePoint closing_since, TimePoint now,
                       std::chrono::seconds warn_before, std::chrono::seconds grace = kCloseGrace);

// "sekisho: your approved window for root@web01 ends in 5 min (at 14:05 UTC)". Minutes are
// rounded up; under a minute it says seconds (and the time to the second).
std::string window_warning(const std::string& target, TimePoint end, TimePoint now);

}  // namespace sekisho::broker
