// SshdHost: a GoogleTest-side handle on tests/harness/sshd_host.sh — one real sshd "host" on
// 127.0.0.1 in its own mount namespace with an overlay /etc. Header-only; for tests.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/crypto.hpp"

#ifndef SSHD_HOST_SH
#error "SSHD_HOST_SH must name tests/harness/sshd_host.sh (tests/ssh.cmake defines it)"
#endif

namespace sekisho::testing {

// Output and exit status of a shell command; stdin gets `input` (never the command line).
struct CommandResult {
  int status = -1;
  std::string out;
};

inline CommandResult run_command(const std::string& command, const std::string& input = "") {
  // popen has one direction: with input, stdout goes to a file beside it.
  CommandResult result;
  if (input.empty()) {
    FILE* p = popen(command.c_str(), "r");
    if (p == nullptr) return result;
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) result.out.append(buf, n);
    result.status = pclose(p);
    return result;
  }
  FILE* p = popen(command.c_str(), "w");
  if (p == nullptr) return result;
  fwrite(input.data(), 1, input.size(), p);
  result.status = pclose(p);
  return result;
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A fresh directory under $TMPDIR (or /tmp), mode 0711 so that host accounts can traverse it.
inline std::filesystem::path make_host_temp_dir(const std::string& prefix) {
  std::string pattern = std::filesystem::temp_directory_path() / (prefix + "-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) return {};
  chmod(pattern.c_str(), 0711);
  return pattern;
}

// True while the process exists and is not a zombie (kill(pid, 0) succeeds on zombies).
inline bool process_alive(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("State:", 0) == 0) {
      const auto at = line.find_first_not_of(" \t", 6);
      return at != std::string::npos && line[at] != 'Z' && line[at] != 'X';
    }
  }
  return false;
}

// The whole content of a file ("" when it cannot be read).
inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The SHA-256 of a file in hex: compares a file such as /etc/shadow without printing it.
inline std::string file_sha256(const std::filesystem::path& path) {
  return hex_encode(sha256(as_bytes(read_text(path))));
}

// "type base64" of a .pub file (a host key, a user key), without its comment.
inline std::string type_and_base64(const std::filesystem::path& pub) {
  std::istringstream in(read_text(pub));
  std::string type, b64;
  in >> type >> b64;
  return type + " " + b64;
}

// One running sshd host. Stopped (by its PID) on stop() or destruction.
class SshdHost {
 public:
  // Starts a host in DIR (created) named NAME with the accounts USERS. Empty on failure, with
  // the harness's one-line error in *error.
  static std::optional<SshdHost> start(const std::filesystem::path& dir, const std::string& name,
                                       const std::vector<std::string>& users, std::string* error) {
    // The harness script exits after starting sshd; as a subreaper this process inherits the
    // orphaned sshd and can reap it in stop() (PID 1 of a container may never reap it).
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    std::string command =
        std::string(SSHD_HOST_SH) + " start " + shell_quote(dir) + " " + shell_quote(name);
    for (const auto& u : users) command += " " + shell_quote(u);
    CommandResult r = run_command(command + " 2>&1");
    std::istringstream in(r.out);
    int port = 0;
    pid_t pid = 0;
    if (r.status != 0 || !(in >> port >> pid) || port <= 0 || pid <= 0) {
      if (error != nullptr) *error = r.out;
      return std::nullopt;
    }
    return SshdHost(dir, static_cast<std::uint16_t>(port), pid);
  }

  SshdHost(SshdHost&& other) noexcept
      : dir_(std::move(other.dir_)), port_(other.port_), pid_(other.pid_) {
    other.pid_ = 0;
  }
  SshdHost& operator=(SshdHost&& other) noexcept {
    if (this != &other) {
      stop();
      dir_ = std::move(other.dir_);
      port_ = other.port_;
      pid_ = other.pid_;
      other.pid_ = 0;
    }
    return *this;
  }
  SshdHost(const SshdHost&) = delete;
  SshdHost& operator=(const SshdHost&) = delete;
  ~SshdHost() { stop(); }

  const std::filesystem::path& dir() const { return dir_; }
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // SIGTERM to the sshd's PID, then a bounded wait (5 s) for it to go, then SIGKILL; reaps it
  // when it is this process's child (see start()).
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    if (!wait_gone(100)) {
      kill(pid_, SIGKILL);
      wait_gone(40);
    }
    pid_ = 0;
  }

  // chpasswd inside the host; the password travels on stdin only.
  bool set_password(const std::string& user, const std::string& password) const {
    return run_command(
               std::string(SSHD_HOST_SH) + " passwd " + shell_quote(dir_) + " " + shell_quote(user),
               password + "\n")
               .status == 0;
  }

  bool authorize(const std::string& user, const std::string& public_key_line) const {
    return run_command(std::string(SSHD_HOST_SH) + " authorize " + shell_quote(dir_) + " " +
                           shell_quote(user),
                       public_key_line + "\n")
               .status == 0;
  }

  // Runs a shell command inside the host's mount namespace; returns its output and status.
  CommandResult exec(const std::string& shell_command) const {
    return run_command(std::string(SSHD_HOST_SH) + " exec " + shell_quote(dir_) + " sh -c " +
                       shell_quote(shell_command));
  }

 private:
  // Polls every 50 ms, at most `rounds` times, until the sshd is reaped or otherwise gone.
  bool wait_gone(int rounds) const {
    for (int i = 0; i < rounds; ++i) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) return true;
      if (r < 0 && !process_alive(pid_)) return true;  // not our child: a zombie counts as gone
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  SshdHost(std::filesystem::path dir, std::uint16_t port, pid_t pid)
      : dir_(std::move(dir)), port_(port), pid_(pid) {}

  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = 0;
};

}  // namespace sekisho::testing
