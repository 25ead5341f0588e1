// Operational logging (spdlog). Not the audit trail: audit events live in the store's hash chain.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>

#include "base/result.hpp"

namespace sekisho {

enum class LogFormat { kText, kJson };

// Configures every module logger: text on a terminal, one JSON object per line for collectors.
// Writes to stderr. Call once at start-up, before other threads log.
void setup_logging(LogFormat format, spdlog::level::level_enum level);

// Parses "text"/"json" and "trace".."critical"/"off".
Result<LogFormat> parse_log_format(const std::string& text);
Result<spdlog::level::level_enum> parse_log_level(const std::string& text);

// The named logger of one module ("storage", "api", ...), created on first use with the current
// setup. Thread-safe.
std::shared_ptr<spdlog::logger> module_logger(const std::string& name);

}  // namespace sekisho
