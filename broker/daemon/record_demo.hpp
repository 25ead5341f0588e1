// `sekishod record-demo`: records a local command run in a pseudo-terminal as a session of
// USER on ACCOUNT@HOST, exactly as the SSH proxy will record a shell (session row, signed .skr,
// session.start/session.end audit events). For tests and demos until the SSH gateway exists.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "recorder/recording.hpp"

namespace sekisho::broker {

struct RecordDemoOptions {
  std::filesystem::path data_dir;
  std::string user;
  std::string target;  // ACCOUNT@HOST
  std::optional<std::string> request_id;
  std::uint16_t cols = 80, rows = 24;
  std::vector<std::string> command;  // program and arguments; the program is looked up in PATH
};

struct RecordDemoResult {
  std::string session_id;
  std::string end_reason;  // "exit 0", "signal 15", "recording stopped: …"
  recorder::RecordingSummary summary;
};

// Takes the data dir lock (the gateway must be stopped), runs the command in a pty of the given
// size and records its output; when standard input is not a terminal, it is fed to the command
// and recorded as input (at its end the pty's end-of-file character is sent). Returns once the
// command has exited and its output has been drained.
[[nodiscard]] Result<RecordDemoResult> record_demo(const RecordDemoOptions& options);

}  // namespace sekisho::broker
