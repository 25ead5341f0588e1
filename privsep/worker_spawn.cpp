#include "privsep/worker_spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "base/files.hpp"

namespace sekisho::privsep {

namespace {

// Descriptors are copied above this before the spawn, so that dup2 onto 3 and 4 never meets a
// descriptor already there (and always clears close-on-exec on the copy the worker gets).
constexpr int kAboveFixedFds = 16;

// The file actions and attributes of one spawn, released on every path.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attr_);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  void inherit(int from, int as) { posix_spawn_file_actions_adddup2(&actions_, from, as); }
  void close_from(int fd) { posix_spawn_file_actions_addclosefrom_np(&actions_, fd); }
  // The worker starts with the default signal dispositions and an empty mask, whatever the
  // spawning thread had blocked (serve blocks SIGTERM for its sigwait thread).
  void clean_signals() {
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr_, &none);
    posix_spawnattr_setsigdefault(&attr_, &all);
    posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attr() const { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

}  // namespace

Result<std::string> worker_executable_beside_me() {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return fail(ErrorCode::kIo, "cannot find the sekishod binary for SSH workers");
  const auto worker =
      std::filesystem::path(std::string(exe, static_cast<std::size_t>(n))).parent_path() /
      "sekisho-worker";
  if (::access(worker.c_str(), X_OK) != 0) {
    return fail(ErrorCode::kIo, "cannot run the SSH worker " + worker.string() + ": " +
                                    errno_text(errno) + " (it is installed next to sekishod)");
  }
  return worker.string();
}

Result<SpawnedWorker> spawn_worker(const std::string& exe, int job_fd) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return fail(ErrorCode::kIo, "socketpair: " + errno_text(errno));
  }
  wire::Fd core_end(pair[0]);
  wire::Fd worker_end(::fcntl(pair[1], F_DUPFD_CLOEXEC, kAboveFixedFds));
  ::close(pair[1]);
  wire::Fd job_high(::fcntl(job_fd, F_DUPFD_CLOEXEC, kAboveFixedFds));
  if (!worker_end || !job_high) {
    return fail(ErrorCode::kIo, "cannot copy the worker's descriptors: " + errno_text(errno));
  }
  SpawnSetup setup;
  setup.inherit(job_high.get(), wire::kClientFd);
  setup.inherit(worker_end.get(), wire::kCoreFd);
  setup.close_from(wire::kCoreFd + 1);
  setup.clean_signals();
  std::string arg0 = exe;
  char* argv[] = {arg0.data(), nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe.c_str(), setup.actions(), setup.attr(), argv, envp);
  if (rc != 0) return fail(ErrorCode::kIo, errno_text(rc));
  return SpawnedWorker{pid, std::move(core_end)};
}

void reap_worker(pid_t pid, std::chrono::milliseconds grace) {
  constexpr auto kStep = std::chrono::milliseconds(20);
  for (auto waited = std::chrono::milliseconds(0); waited < grace; waited += kStep) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(kStep);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

WorkerDeadline::WorkerDeadline(pid_t pid, std::chrono::milliseconds after)
    : thread_([this, pid, after] {
        std::unique_lock lock(mu_);
        if (!cv_.wait_for(lock, after, [this] { return cancelled_; })) ::kill(pid, SIGKILL);
      }) {}

WorkerDeadline::~WorkerDeadline() {
  {
    std::lock_guard lock(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Result<nlohmann::json> ask_worker(const SpawnedWorker& worker, const nlohmann::json& request,
                                  std::chrono::milliseconds limit) {
  WorkerDeadline deadline(worker.pid, limit);
  if (auto sent = wire::send_message(worker.core.get(), request); !sent) {
    return tl::make_unexpected(sent.error());
  }
  auto answer = wire::receive_message(worker.core.get());
  if (!answer) return tl::make_unexpected(answer.error());
  return std::move(answer->body);
}

}  // namespace sekisho::privsep
