#include "base/logging.hpp"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "base/clock.hpp"

namespace sekisho {

namespace {

// One JSON object per line: {"time","level","logger","msg"}; the message is escaped by
// nlohmann::json so that no log line can break the framing.
class JsonLineFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::json line = {
        {"time", format_time(std::chrono::time_point_cast<TimePoint::duration>(msg.time))},
        {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                              spdlog::level::to_string_view(msg.level).size())},
        {"logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
        {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

struct LogState {
  std::mutex mu;
  LogFormat format = LogFormat::kText;
  spdlog::level::level_enum level = spdlog::level::info;
  spdlog::sink_ptr sink;
};

LogState& state() {
  static LogState s;
  return s;
}

void apply(spdlog::logger& logger, const LogState& s) {
  logger.sinks().clear();
  logger.sinks().push_back(s.sink);
  logger.set_level(s.level);
  logger.flush_on(spdlog::level::info);
}

void make_sink(LogState& s) {
  s.sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (s.format == LogFormat::kJson) {
    s.sink->set_formatter(std::make_unique<JsonLineFormatter>());
  } else {
    s.sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l %n: %v", spdlog::pattern_time_type::utc));
  }
}

}  // namespace

void setup_logging(LogFormat format, spdlog::level::level_enum level) {
  LogState& s = state();
  std::lock_guard lock(s.mu);
  s.format = format;
  s.level = level;
  make_sink(s);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { apply(*l, s); });
}

Result<LogFormat> parse_log_format(const std::string& text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return fail(ErrorCode::kInvalidArgument,
              "log format must be \"text\" or \"json\", not \"" + text.substr(0, 32) + "\"");
}

Result<spdlog::level::level_enum> parse_log_level(const std::string& text) {
  for (int i = spdlog::level::trace; i < spdlog::level::n_levels; ++i) {
    const auto level = static_cast<spdlog::level::level_enum>(i);
    const auto name = spdlog::level::to_string_view(level);
    if (text == std::string_view(name.data(), name.size())) return level;
  }
  return fail(ErrorCode::kInvalidArgument,
              "log level must be one of trace, debug, info, warning, error, critical, off; not \"" +
                  text.substr(0, 32) + "\"");
}

std::shared_ptr<spdlog::logger> module_logger(const std::string& name) {
  LogState& s = state();
  std::lock_guard lock(s.mu);
  if (auto existing = spdlog::get(name)) return existing;
  if (!s.sink) make_sink(s);
  auto logger = std::make_shared<spdlog::logger>(name);
  apply(*logger, s);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace sekisho
