// Where the CLI's secrets come from: lines of standard input (--password-stdin) or a prompt on
// the terminal without echo. Never from an argument.
#pragma once

#include <functional>
#include <istream>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho::cli {

// The API's limit on passwords.
inline constexpr std::size_t kMaxPasswordBytes = 1024;

// Reads one line of at most `max_bytes` (without "\n" or "\r\n") byte by byte from `next_byte`
// (which returns a byte 0–255, or -1 at end of input), straight into a Secret: no buffer of ours
// keeps a copy. Refuses an empty line, a missing line and an overlong one; `what` names the line
// in the error ("the password (line 1 of standard input)").
[[nodiscard]] Result<Secret> read_secret_line(const std::function<int()>& next_byte,
                                              std::string_view what,
                                              std::size_t max_bytes = kMaxPasswordBytes);
// The same from a stream (tests, files).
[[nodiscard]] Result<Secret> read_secret_line(std::istream& in, std::string_view what,
                                              std::size_t max_bytes = kMaxPasswordBytes);

// True when this process has a controlling terminal to prompt on.
bool have_terminal();

// Prints `prompt` on /dev/tty and reads a line with echo off; echo is restored afterwards, also
// when SIGINT/SIGTERM/SIGHUP arrive meanwhile. Refuses with a message pointing at
// --password-stdin when there is no terminal.
[[nodiscard]] Result<Secret> prompt_secret(std::string_view prompt);
// Asks twice and compares (a new password must not carry an unseen typo).
[[nodiscard]] Result<Secret> prompt_new_secret(std::string_view prompt);
// Prints `prompt` on /dev/tty and reads a short line with echo on (a TOTP code).
[[nodiscard]] Result<std::string> prompt_visible(std::string_view prompt);

// Secrets of one command run: with --password-stdin, successive lines of standard input (read
// unbuffered from fd 0, so that nothing is read ahead); otherwise prompts.
class SecretSource {
 public:
  explicit SecretSource(bool from_stdin) : from_stdin_(from_stdin) {}
  // For tests: lines come from `in`.
  explicit SecretSource(std::istream& in) : from_stdin_(true), stream_(&in) {}

  bool from_stdin() const { return from_stdin_; }
  // The next line of standard input, or a prompt with echo off.
  [[nodiscard]] Result<Secret> current(std::string_view prompt, std::string_view what);
  // The next line of standard input, or a prompt asked twice.
  [[nodiscard]] Result<Secret> fresh(std::string_view prompt, std::string_view what);

 private:
  [[nodiscard]] Result<Secret> next_line(std::string_view what);

  bool from_stdin_;
  std::istream* stream_ = nullptr;
  int line_ = 0;
};

}  // namespace sekisho::cli
