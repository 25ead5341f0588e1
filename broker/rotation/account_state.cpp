#include "broker/rotation/account_state.hpp"

namespace sekisho::broker {

std::optional<std::chrono::seconds> rotation_interval(const storage::AccountRow& row,
                                                      const rotation::RotationSettings& settings) {
  if (row.rotate_every_seconds && *row.rotate_every_seconds > 0) {
    return std::chrono::seconds(*row.rotate_every_seconds);
  }
  return rotation::rule_for(settings, row.host, row.host_group).every;
}

std::optional<TimePoint> next_scheduled_rotation(const storage::AccountRow& row,
                                                 const rotation::RotationSettings& settings) {
  const auto every = rotation_interval(row, settings);
  if (!every) return std::nullopt;
  auto since = parse_time(row.last_rotated_at.empty() ? row.created_at : row.last_rotated_at);
  if (!since) return std::nullopt;
  return rotation::next_due(*since, *every);
}

std::string display_state(const storage::AccountRow& row, bool rotatable) {
  if (row.status == "unknown" || row.status == "pending") return row.status;
  if (!row.checkout_request.empty()) return "checked-out";
  if (!rotatable) return "manual";
  return "current";
}

std::string rotation_reason_now(const storage::AccountRow& row,
                                const rotation::RotationSettings& settings, bool rotatable,
                                TimePoint now) {
  if (!rotatable || !row.checkout_request.empty()) return "";
  if (!row.rotation_due.empty()) return row.rotation_due;
  const auto next = next_scheduled_rotation(row, settings);
  if (next && *next <= now) return "schedule";
  return "";
}

}  // namespace sekisho::broker
