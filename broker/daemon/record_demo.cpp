#include "broker/daemon/record_demo.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/files.hpp"
#include "broker/sessions/session_recording.hpp"
#include "storage/data_dir.hpp"

namespace sekisho::broker {

namespace {

constexpr std::size_t kReadSize = 16 * 1024;
// After the command exits, output still buffered in the pty is drained; a background process that
// keeps the pty open cannot hold the recording open longer than this.
constexpr auto kDrainAfterExit = std::chrono::seconds(2);

using recorder::AppendStatus;

std::string describe(AppendStatus status, const recorder::Writer& writer);

// The pty relay of one command: output to the recording, standard input (when it is not a
// terminal) to the command and the recording.
class PtyRelay {
 public:
  PtyRelay(int master, pid_t child, recorder::Writer& writer)
      : master_(master), child_(child), writer_(writer) {}

  // Relays until the command has exited and the pty is drained, or recording fails. Returns the
  // end reason.
  std::string run() {
    feed_stdin_ = ::isatty(STDIN_FILENO) == 0;
    using Clock = std::chrono::steady_clock;
    std::optional<Clock::time_point> exited_at;
    bool pty_open = true;
    while (pty_open && stop_reason_.empty()) {
      if (!status_ && reap()) exited_at = Clock::now();
      if (exited_at && Clock::now() - *exited_at > kDrainAfterExit) break;
      pty_open = step();
    }
    if (!stop_reason_.empty()) {
      ::kill(-child_, SIGKILL);  // the child leads its own session (forkpty): end all of it
      ::kill(child_, SIGKILL);
    }
    if (!status_) {
      int status = 0;
      if (::waitpid(child_, &status, 0) == child_) status_ = status;
    }
    if (!stop_reason_.empty()) return stop_reason_;
    if (!status_) return "ended";
    if (WIFSIGNALED(*status_)) return "signal " + std::to_string(WTERMSIG(*status_));
    return "exit " + std::to_string(WEXITSTATUS(*status_));
  }

 private:
  bool reap() {
    int status = 0;
    if (::waitpid(child_, &status, WNOHANG) != child_) return false;
    status_ = status;
    return true;
  }

  // One poll round; false once the pty reports the end of the command's output.
  bool step() {
    pollfd fds[2] = {{master_, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (!pending_input_.empty()) fds[0].events |= POLLOUT;
    const nfds_t n = feed_stdin_ && pending_input_.empty() ? 2 : 1;
    if (::poll(fds, n, 100) < 0) return errno == EINTR;
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buf[kReadSize];
      const ssize_t got = ::read(master_, buf, sizeof buf);
      if (got > 0) {
        record(recorder::RecordKind::kOutput, std::string(buf, static_cast<std::size_t>(got)));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        return false;  // EIO: every slave descriptor closed and the output drained
      }
    }
    if ((fds[0].revents & POLLOUT) != 0) write_pending();
    if (n == 2 && (fds[1].revents & (POLLIN | POLLHUP)) != 0) read_stdin();
    return true;
  }

  void read_stdin() {
    char buf[kReadSize];
    const ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
    if (got > 0) {
      pending_input_.assign(buf, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      feed_stdin_ = false;
      // What a user's Ctrl-D would send, so that a command reading its input sees its end.
      termios tio{};
      pending_input_.assign(1, ::tcgetattr(master_, &tio) == 0 ? char(tio.c_cc[VEOF]) : '\x04');
    }
    record(recorder::RecordKind::kInput, pending_input_);
  }

  void write_pending() {
    const ssize_t put = ::write(master_, pending_input_.data(), pending_input_.size());
    if (put > 0) pending_input_.erase(0, static_cast<std::size_t>(put));
  }

  void record(recorder::RecordKind kind, std::string data) {
    recorder::Record r;
    r.kind = kind;
    r.data = std::move(data);
    const AppendStatus status = writer_.append(std::move(r));
    if (status != AppendStatus::kOk) stop_reason_ = describe(status, writer_);
  }

  int master_;
  pid_t child_;
  recorder::Writer& writer_;
  bool feed_stdin_ = false;
  std::string pending_input_;
  std::optional<int> status_;
  std::string stop_reason_;
};

std::string describe(AppendStatus status, const recorder::Writer& writer) {
  switch (status) {
    case AppendStatus::kQueueFull:
      return "recording stopped: the recorder could not keep up";
    case AppendStatus::kCapReached:
      return "recording stopped: size cap reached";
    case AppendStatus::kFailed: {
      const auto e = writer.failure();
      return "recording failed: " + (e ? e->message : std::string("write error"));
    }
    default:
      return "recording stopped";
  }
}

Result<std::pair<std::string, std::string>> split_target(const std::string& target) {
  const auto at = target.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == target.size()) {
    return fail(ErrorCode::kInvalidArgument, "--target must be ACCOUNT@HOST");
  }
  return std::pair{target.substr(0, at), target.substr(at + 1)};
}

}  // namespace

Result<RecordDemoResult> record_demo(const RecordDemoOptions& options) {
  if (options.command.empty()) return fail(ErrorCode::kInvalidArgument, "no command to record");
  if (options.cols == 0 || options.rows == 0) {
    return fail(ErrorCode::kInvalidArgument, "--cols and --rows must be at least 1");
  }
  auto target = split_target(options.target);
  if (!target) return tl::make_unexpected(target.error());
  const storage::DataDir dir(options.data_dir);
  auto lock = storage::DataDirLock::acquire(dir);
  if (!lock) {
    return fail(lock.error().code, lock.error().message + " (stop the gateway to record a demo)");
  }
  auto store = storage::open_data_dir_store(dir, {.migrate = true});
  if (!store) return tl::make_unexpected(store.error());
  const SystemClock clock;
  auto audit = storage::AuditLog::open(**store, clock);
  if (!audit) return tl::make_unexpected(audit.error());
  auto signer = SigningKey::load(dir.signing_key());
  if (!signer) return tl::make_unexpected(signer.error());

  SessionStart what{options.user,       target->first, target->second,
                    options.request_id, options.cols,  options.rows};
  auto session = SessionRecording::start(**store, **audit, dir, *signer, clock, what);
  if (!session) return tl::make_unexpected(session.error());

  // Everything the child needs is prepared before fork: the recorder runs a thread, so the child
  // may only call async-signal-safe functions until exec.
  std::vector<char*> argv;
  for (const auto& a : options.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  winsize size{options.rows, options.cols, 0, 0};
  int master = -1;
  const pid_t child = ::forkpty(&master, nullptr, nullptr, &size);
  if (child < 0) {
    const std::string why = "cannot start a pty: " + errno_text(errno);
    (void)(*session)->finish(why);
    return fail(ErrorCode::kIo, why);
  }
  if (child == 0) {
    ::close_range(3, ~0U, 0);  // the store, the lock and the recording stay with us
    ::execvp(argv[0], argv.data());
    static constexpr char kMessage[] = "sekishod record-demo: cannot run the command\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(127);
  }
  ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
  ::signal(SIGPIPE, SIG_IGN);
  PtyRelay relay(master, child, (*session)->writer());
  RecordDemoResult result;
  result.end_reason = relay.run();
  ::close(master);
  result.session_id = (*session)->id();
  auto summary = (*session)->finish(result.end_reason);
  if (!summary) return tl::make_unexpected(summary.error());
  result.summary = *summary;
  return result;
}

}  // namespace sekisho::broker
