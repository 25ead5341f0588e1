// Helpers for the directory integration tests: run a harness script, read the KEY=VALUE lines it
// prints, and make/remove temp dirs. Header-only; each test executable includes it once.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

namespace sekisho::ldap::testing {

using Env = std::map<std::string, std::string>;

// Runs `command` through /bin/sh; returns its exit status and fills `out` with its stdout.
inline int run_command(const std::string& command, std::string* out) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) {
    if (out != nullptr) out->append(buf, n);
  }
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline Env parse_env(const std::string& text) {
  Env env;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
    pos = end + 1;
  }
  return env;
}

inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::filesystem::path make_temp_dir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

// True while `pid` exists and is not a zombie (kill -0 succeeds on zombies).
inline bool process_alive(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("State:", 0) == 0) return line.find('Z') == std::string::npos;
  }
  return false;
}

// Makes this process the reaper of the servers the harness scripts start in the background: when
// the script exits they become our children, so TearDown can collect them and no zombie is left
// behind (PID 1 of a container may never reap). Call before starting a harness.
// Also ignores SIGPIPE, as sekishod does: libldap writes with write(2), and a server that goes
// away mid-connection must give an error, not kill the process.
inline void adopt_orphans() {
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  signal(SIGPIPE, SIG_IGN);
}

// The environment prefix that tells a harness script which process owns the server it starts:
// if this test process dies without its TearDown (a crash, a ctest time-out), the harness's
// watcher stops the server.
inline std::string owner_env() { return "HARNESS_OWNER_PID=" + std::to_string(getpid()) + " "; }

// Last resort in TearDown (the harness's stop already sent TERM and waited): KILL if still
// running, then reap it. The wait is bounded (5 s).
inline void kill_and_reap(const std::string& pid_text) {
  if (pid_text.empty()) return;
  const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
  if (pid <= 1) return;
  if (process_alive(pid)) kill(pid, SIGKILL);
  for (int i = 0; i < 250; ++i) {
    const pid_t r = waitpid(pid, nullptr, WNOHANG);
    if (r == pid || r < 0) return;  // reaped, or not our child
    usleep(20000);
  }
}

inline std::size_t count_lines_containing(const std::filesystem::path& file,
                                          const std::string& needle) {
  std::ifstream in(file);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace sekisho::ldap::testing
