#include "cli/prompt.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "base/files.hpp"

namespace sekisho::cli {

namespace {

// The terminal state to restore if a signal arrives while echo is off.
int g_tty_fd = -1;
struct termios g_saved_tty {};
std::atomic<bool> g_echo_off{false};

extern "C" void restore_tty_and_die(int sig) {
  if (g_echo_off.load()) {
    tcsetattr(g_tty_fd, TCSAFLUSH, &g_saved_tty);
    (void)!write(g_tty_fd, "\n", 1);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

// Owns the /dev/tty descriptor.
class Tty {
 public:
  Tty() : fd_(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) {}
  Tty(const Tty&) = delete;
  Tty& operator=(const Tty&) = delete;
  ~Tty() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  void say(std::string_view text) const { (void)!::write(fd_, text.data(), text.size()); }
  int next_byte() const {
    unsigned char c = 0;
    for (;;) {
      const ssize_t n = ::read(fd_, &c, 1);
      if (n == 1) return c;
      if (n < 0 && errno == EINTR) continue;
      return -1;
    }
  }

 private:
  int fd_;
};

Error no_terminal() {
  return Error{ErrorCode::kInvalidArgument,
               "no terminal to ask for the password; pipe it in with --password-stdin"};
}

Result<Secret> read_without_echo(const Tty& tty, std::string_view prompt) {
  struct termios saved {};
  if (tcgetattr(tty.fd(), &saved) != 0) return tl::make_unexpected(no_terminal());
  struct termios quiet = saved;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  g_tty_fd = tty.fd();
  g_saved_tty = saved;
  struct sigaction sa {
  }, old_int{}, old_term{}, old_hup{};
  sa.sa_handler = restore_tty_and_die;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGHUP, &sa, &old_hup);
  tty.say(prompt);
  tcsetattr(tty.fd(), TCSAFLUSH, &quiet);
  g_echo_off = true;
  auto line = read_secret_line([&] { return tty.next_byte(); }, "the password");
  tcsetattr(tty.fd(), TCSAFLUSH, &saved);
  g_echo_off = false;
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);
  return line;
}

int stdin_byte() {
  unsigned char c = 0;
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n == 1) return c;
    if (n < 0 && errno == EINTR) continue;
    return -1;
  }
}

}  // namespace

Result<Secret> read_secret_line(const std::function<int()>& next_byte, std::string_view what,
                                std::size_t max_bytes) {
  Secret buffer(max_bytes + 1);
  std::size_t size = 0;
  int c = next_byte();
  if (c < 0) return fail(ErrorCode::kInvalidArgument, std::string(what) + " is missing");
  for (; c >= 0 && c != '\n'; c = next_byte()) {
    if (size == buffer.size()) {
      return fail(ErrorCode::kInvalidArgument,
                  std::string(what) + " is longer than " + std::to_string(max_bytes) + " bytes");
    }
    buffer.data()[size++] = static_cast<std::uint8_t>(c);
  }
  if (size > 0 && buffer.data()[size - 1] == '\r') --size;
  if (size > max_bytes) {
    return fail(ErrorCode::kInvalidArgument,
                std::string(what) + " is longer than " + std::to_string(max_bytes) + " bytes");
  }
  if (size == 0) return fail(ErrorCode::kInvalidArgument, std::string(what) + " is empty");
  return Secret::copy_of(std::span<const std::uint8_t>(buffer.data(), size));
}

Result<Secret> read_secret_line(std::istream& in, std::string_view what, std::size_t max_bytes) {
  return read_secret_line(
      [&in]() -> int {
        const auto c = in.get();
        return in ? static_cast<int>(static_cast<unsigned char>(c)) : -1;
      },
      what, max_bytes);
}

bool have_terminal() {
  const Tty tty;
  return tty.fd() >= 0 && isatty(tty.fd()) != 0;
}

Result<Secret> prompt_secret(std::string_view prompt) {
  const Tty tty;
  if (tty.fd() < 0) return tl::make_unexpected(no_terminal());
  return read_without_echo(tty, prompt);
}

Result<Secret> prompt_new_secret(std::string_view prompt) {
  const Tty tty;
  if (tty.fd() < 0) return tl::make_unexpected(no_terminal());
  auto first = read_without_echo(tty, prompt);
  if (!first) return first;
  auto second = read_without_echo(tty, "Repeat it: ");
  if (!second) return second;
  if (!first->equals(*second)) {
    return fail(ErrorCode::kInvalidArgument, "the two entries differ; nothing was changed");
  }
  return first;
}

Result<std::string> prompt_visible(std::string_view prompt) {
  const Tty tty;
  if (tty.fd() < 0) {
    return fail(ErrorCode::kInvalidArgument, "no terminal to ask on; give it as an option");
  }
  tty.say(prompt);
  std::string line;
  for (int c = tty.next_byte(); c >= 0 && c != '\n' && line.size() < 64; c = tty.next_byte()) {
    if (c != '\r') line.push_back(static_cast<char>(c));
  }
  return line;
}

Result<Secret> SecretSource::next_line(std::string_view what) {
  ++line_;
  const std::string described =
      std::string(what) + " (line " + std::to_string(line_) + " of standard input)";
  if (stream_ != nullptr) return read_secret_line(*stream_, described);
  return read_secret_line(stdin_byte, described);
}

Result<Secret> SecretSource::current(std::string_view prompt, std::string_view what) {
  if (from_stdin_) return next_line(what);
  return prompt_secret(prompt);
}

Result<Secret> SecretSource::fresh(std::string_view prompt, std::string_view what) {
  if (from_stdin_) return next_line(what);
  return prompt_new_secret(prompt);
}

}  // namespace sekisho::cli
