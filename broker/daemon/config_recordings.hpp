// [recordings] of the daemon's configuration, read apart from config.cpp (which holds the other
// sections) so that neither file grows past one concern.
#pragma once

#include <string>
#include <toml.hpp>

#include "base/result.hpp"
#include "broker/daemon/config.hpp"

namespace sekisho::broker {

// Reads the [recordings] table `t` into `out`: max_total_bytes and min_free_bytes (integers from
// 0, meaning none, to 2^62), keep (a duration such as "400d"). An unknown key or a bad value is
// one error line naming `file` and the key. Pure; any thread.
[[nodiscard]] Result<void> read_recordings_table(const toml::value& t, const std::string& file,
                                                 RecordingsConfig& out);

}  // namespace sekisho::broker
