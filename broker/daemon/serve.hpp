// `sekishod serve`: the gateway daemon's main loop.
#pragma once

#include <filesystem>

#include "base/result.hpp"
#include "broker/daemon/config.hpp"

namespace sekisho::broker {

// Runs the gateway on `data_dir` with `config` until SIGTERM or SIGINT: holds the data dir lock,
// opens the store, serves the HTTPS API, signs audit checkpoints periodically, and on the way out
// records the stop in the audit log and signs a final checkpoint. Call from the main thread before
// any other thread starts (it blocks the termination signals for the whole process).
[[nodiscard]] Result<void> serve(const std::filesystem::path& data_dir, const Config& config);

}  // namespace sekisho::broker
