// ssh_echo_rtt: the round trip of one byte through a command that echoes its stdin (e.g.
// `ssh host cat`), timed in-process: a shell adds more than the round trip itself.
//
//   ssh_echo_rtt ITERATIONS [--ready] COMMAND [ARG...]
//
// --ready: wait for the command to print "R" first (e.g. after `stty raw -echo` on a remote pty,
// so that no byte is echoed by the terminal; a raw pty passes no end-of-file either, so such a
// command must end by itself after 20 + ITERATIONS bytes, e.g. `dd bs=1 count=N`). Starts COMMAND
// with pipes on stdin and stdout, does 20 untimed round trips (connection set-up, first-use costs),
// then ITERATIONS timed ones, and prints "median_us P99_us max_us". Exits 1 with one line on stderr
// when the command does not echo or exits unsuccessfully.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

constexpr long kWarmup = 20;
constexpr long kMaxIterations = 1000000;

int fail(const std::string& what) {
  std::fprintf(stderr, "ssh_echo_rtt: %s\n", what.c_str());
  return 1;
}

bool write_byte(int fd, char c) {
  for (;;) {
    const ssize_t n = ::write(fd, &c, 1);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

bool read_byte(int fd, char& c) {
  for (;;) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n == 1) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return fail("usage: ssh_echo_rtt ITERATIONS [--ready] COMMAND [ARG...]");
  char* end = nullptr;
  const long iterations = std::strtol(argv[1], &end, 10);
  if (*end != '\0' || iterations < 1 || iterations > kMaxIterations) {
    return fail("ITERATIONS must be an integer from 1 to 1000000");
  }
  int first = 2;
  const bool ready = std::string(argv[2]) == "--ready";
  if (ready) ++first;
  if (first >= argc) return fail("no COMMAND");
  int to_child[2];
  int from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
    return fail("pipe failed");
  }
  const pid_t pid = ::fork();
  if (pid < 0) return fail("fork failed");
  if (pid == 0) {
    ::dup2(to_child[0], STDIN_FILENO);
    ::dup2(from_child[1], STDOUT_FILENO);
    ::execvp(argv[first], argv + first);
    _exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);

  if (ready) {
    char c = 0;
    while (c != 'R') {
      if (!read_byte(from_child[0], c)) return fail("the command ended before printing R");
    }
  }
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(iterations));
  bool ok = true;
  for (long i = 0; i < kWarmup + iterations && ok; ++i) {
    const char sent = static_cast<char>('a' + i % 26);
    char got = 0;
    const auto t0 = std::chrono::steady_clock::now();
    ok = write_byte(to_child[1], sent) && read_byte(from_child[0], got) && got == sent;
    const auto t1 = std::chrono::steady_clock::now();
    if (i >= kWarmup) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  ::close(to_child[1]);
  char rest;
  while (read_byte(from_child[0], rest)) {
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!ok) return fail("the command did not echo the byte sent");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail("the command failed");
  std::sort(us.begin(), us.end());
  const auto at = [&](double q) {
    return us[std::min(us.size() - 1,
                       static_cast<std::size_t>(q * static_cast<double>(us.size())))];
  };
  std::printf("%.0f %.0f %.0f\n", at(0.5), at(0.99), us.back());
  return 0;
}
