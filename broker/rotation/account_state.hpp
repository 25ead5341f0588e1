// How the core describes the rotation of one managed account (`accounts list`, the sweep): its
// state, its schedule and whether a rotation is owed now. Pure functions over a stored row and
// the [rotation] settings; any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "base/clock.hpp"
#include "rotation/rotation_policy.hpp"
#include "storage/credentials.hpp"

namespace sekisho::broker {

// The account's rotation interval: its own (`accounts add --rotate-every`), else its host
// group's rule's `every`; nullopt when it has no schedule.
std::optional<std::chrono::seconds> rotation_interval(const storage::AccountRow& row,
                                                      const rotation::RotationSettings& settings);

// When the next scheduled rotation is due: the last rotation (or the vaulting, for an account
// never rotated) plus the interval. nullopt without a schedule or with an unreadable time.
std::optional<TimePoint> next_scheduled_rotation(const storage::AccountRow& row,
                                                 const rotation::RotationSettings& settings);

// "unknown" or "pending" when the vault says so (they matter most), else "checked-out" while a
// check-out is open, else "manual" when no connector can rotate it (`rotatable` false), else
// "current".
std::string display_state(const storage::AccountRow& row, bool rotatable);

// Why the sweep should rotate the account now, or "" when it should not: never an account
// without a connector or with an open check-out (its holder's window ends first); an owed
// rotation (after a check-in, a leaver, an interrupted job) before a scheduled one.
std::string rotation_reason_now(const storage::AccountRow& row,
                                const rotation::RotationSettings& settings, bool rotatable,
                                TimePoint now);

}  // namespace sekisho::broker
