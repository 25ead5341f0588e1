#include "broker/ssh/gateway.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/files.hpp"
#include "base/logging.hpp"
#include "broker/ssh/monitor.hpp"

namespace sekisho::broker {

namespace {

Result<std::string> read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return fail(ErrorCode::kIo, "cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits for a worker to exit; SIGKILL after `grace` so that a stuck worker never leaks.
void reap(pid_t pid, std::chrono::milliseconds grace) {
  for (auto waited = std::chrono::milliseconds(0); waited < grace;
       waited += std::chrono::milliseconds(20)) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// Failed key probes one source address may put in the audit trail per minute; the rest are
// summarised (docs/ssh_gateway.md "Login limits").
constexpr std::size_t kProbeAuditsPerMinute = 10;
// A full recording disk alerts the operator's webhooks once per this window, not once per refused
// session (the audit trail and the error log still have every refusal).
constexpr std::chrono::seconds kDiskAlertEvery = std::chrono::minutes(10);

// The address of "host:port" without the port: what the per-source limit counts by.
std::string address_of(const std::string& peer) {
  const auto colon = peer.rfind(':');
  std::string host = colon == std::string::npos ? peer : peer.substr(0, colon);
  if (host.starts_with("::ffff:")) host = host.substr(7);
  return host;
}

}  // namespace

struct SshGateway::Worker {
  pid_t pid = -1;
  std::thread thread;
  std::atomic<bool> done{false};
  std::atomic<bool> authenticated{false};  // counted against max_startups until set
  std::shared_ptr<WorkerLink> link;        // the registry entry: its session, once recording
  std::string source;                      // the client's address, without the port
  std::chrono::steady_clock::time_point accepted;
  bool grace_killed = false;  // end_late_logins() sent SIGKILL (under mu_)
};

SshGateway::SshGateway(SshGatewayContext ctx, wire::Fd listener, std::uint16_t port,
                       std::string host_key, std::string exe)
    : probe_audit_(kProbeAuditsPerMinute, std::chrono::minutes(1), ctx.clock),
      disk_alerts_(1, kDiskAlertEvery, ctx.clock),
      ctx_(ctx),
      listener_(std::move(listener)),
      port_(port),
      host_key_(std::move(host_key)),
      exe_(std::move(exe)) {
  ctx_.probe_audit = &probe_audit_;
  ctx_.disk_alerts = &disk_alerts_;
}

Result<std::unique_ptr<SshGateway>> SshGateway::bind(const ListenAddress& listen,
                                                     SshGatewayContext ctx) {
  auto host_key = read_text_file(ctx.dir.ssh_host_key());
  if (!host_key) return tl::make_unexpected(host_key.error());
  auto privileges = privsep::resolve_worker_privileges(ctx.limits.worker_user, ctx.dir.root());
  if (!privileges) return tl::make_unexpected(privileges.error());
  ctx.privileges = std::move(*privileges);
  if (ctx.privileges.drop) {
    module_logger("ssh")->info("ssh workers run as {} (uid {}) in {}", ctx.privileges.user,
                               ctx.privileges.uid, ctx.privileges.root);
  } else {
    module_logger("ssh")->info("ssh workers run as the daemon's uid {}: not root, nothing to drop",
                               ::geteuid());
  }
  // The worker is its own executable next to sekishod (a slim image: docs/ssh_gateway.md).
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return fail(ErrorCode::kIo, "cannot find the sekishod binary for SSH workers");
  const auto worker_exe =
      std::filesystem::path(std::string(exe, static_cast<std::size_t>(n))).parent_path() /
      "sekisho-worker";
  if (::access(worker_exe.c_str(), X_OK) != 0) {
    return fail(ErrorCode::kIo, "cannot run the SSH worker " + worker_exe.string() + ": " +
                                    errno_text(errno) + " (it is installed next to sekishod)");
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port_text = std::to_string(listen.port);
  if (::getaddrinfo(listen.host.c_str(), port_text.c_str(), &hints, &res) != 0 || !res) {
    return fail(ErrorCode::kInvalidArgument, "bad SSH listen address " + listen.text());
  }
  wire::Fd sock(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  const bool bound =
      sock && ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
      ::bind(sock.get(), res->ai_addr, res->ai_addrlen) == 0 && ::listen(sock.get(), 128) == 0;
  const int err = errno;
  ::freeaddrinfo(res);
  if (!bound) {
    return fail(ErrorCode::kIo, "cannot listen on " + listen.text() + ": " + errno_text(err));
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  ::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  const std::uint16_t port =
      ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                       : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  std::unique_ptr<SshGateway> gw(
      new SshGateway(ctx, std::move(sock), port, std::move(*host_key), worker_exe.string()));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail(ErrorCode::kIo, "pipe: " + errno_text(errno));
  gw->wake_read_ = wire::Fd(pipe_fds[0]);
  gw->wake_write_ = wire::Fd(pipe_fds[1]);
  return gw;
}

SshGateway::~SshGateway() {
  stop();
  wipe(host_key_.data(), host_key_.size());
}

void SshGateway::start() {
  accept_thread_ = std::thread([this] { accept_loop(); });
  login_grace_.add("ssh.login_grace", std::chrono::seconds(1), [this] { end_late_logins(); });
  login_grace_.start();
}

void SshGateway::stop() {
  if (stopping_.exchange(true)) return;
  const char byte = 1;
  (void)!::write(wake_write_.get(), &byte, 1);
  if (accept_thread_.joinable()) accept_thread_.join();
  login_grace_.stop();
  std::list<std::unique_ptr<Worker>> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (auto& w : workers) forget(*w);  // their monitors finish the sessions from here on
  for (auto& w : workers) ::kill(w->pid, SIGTERM);
  for (auto& w : workers) w->thread.join();
}

void SshGateway::accept_loop() {
  auto log = module_logger("ssh");
  while (!stopping_) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
    if (::poll(fds, 2, 1000) < 0 && errno != EINTR) {
      log->error("ssh listener poll failed: {}", errno_text(errno));
      return;
    }
    reap_finished();
    if (stopping_ || (fds[0].revents & POLLIN) == 0) continue;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    wire::Fd client(
        ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC));
    if (!client) continue;
    char host[NI_MAXHOST] = "?";
    char serv[NI_MAXSERV] = "?";
    ::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof(host), serv, sizeof(serv),
                  NI_NUMERICHOST | NI_NUMERICSERV);
    const int one = 1;
    ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const std::string peer = std::string(host) + ":" + serv;
    if (!admit(peer)) continue;  // `client` closes unserved, as sshd's MaxStartups does
    spawn(std::move(client), peer);
  }
}

bool SshGateway::admit(const std::string& peer) {
  const std::string source = address_of(peer);
  std::size_t live = 0, starting = 0, from_source = 0;
  {
    std::lock_guard lock(mu_);
    for (const auto& w : workers_) {
      if (w->done) continue;
      ++live;
      if (!w->authenticated) {
        ++starting;
        if (w->source == source) ++from_source;
      }
    }
  }
  const char* reason = live >= ctx_.limits.max_sessions ? "too many sessions"
                       : starting >= ctx_.limits.max_startups
                           ? "too many unauthenticated connections"
                       : from_source >= ctx_.limits.per_source_max_startups
                           ? "too many unauthenticated connections from this address"
                           : nullptr;
  if (reason == nullptr) return true;
  ++refusals_unaudited_;
  const TimePoint now = ctx_.clock.now();
  if (last_refusal_audit_ != TimePoint{} && now - last_refusal_audit_ < std::chrono::minutes(1)) {
    return false;
  }
  module_logger("ssh")->warn("ssh connection from {} refused: {} ({} live, {} not logged in)", peer,
                             reason, live, starting);
  auto seq = ctx_.audit.append(
      {"gateway",
       "ssh.refused",
       "ssh",
       {{"reason", reason}, {"peer", peer}, {"live", live}, {"refused", refusals_unaudited_}}});
  if (!seq) module_logger("ssh")->error("audit ssh.refused failed: {}", seq.error().message);
  last_refusal_audit_ = now;
  refusals_unaudited_ = 0;
  return false;
}

void SshGateway::spawn(wire::Fd client, const std::string& peer) {
  auto log = module_logger("ssh");
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    log->error("socketpair failed: {}", errno_text(errno));
    return;
  }
  wire::Fd core_end(pair[0]);
  // Above the worker's fixed descriptors, so that dup2 onto 3 and 4 always clears CLOEXEC.
  wire::Fd worker_end(::fcntl(pair[1], F_DUPFD_CLOEXEC, 16));
  ::close(pair[1]);
  wire::Fd client_high(::fcntl(client.get(), F_DUPFD_CLOEXEC, 16));
  if (!worker_end || !client_high) return;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, client_high.get(), wire::kClientFd);
  posix_spawn_file_actions_adddup2(&actions, worker_end.get(), wire::kCoreFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, wire::kCoreFd + 1);
  // The worker starts from a clean image with the default signal dispositions and mask.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string arg0 = exe_;
  char* argv[] = {arg0.data(), nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe_.c_str(), &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    log->error("cannot start an SSH worker for {}: {}", peer, errno_text(rc));
    return;
  }
  log->info("ssh connection from {}: worker {}", peer, pid);
  auto worker = std::make_unique<Worker>();
  worker->pid = pid;
  worker->source = address_of(peer);
  worker->accepted = std::chrono::steady_clock::now();
  Worker* w = worker.get();
  const int sock = core_end.release();
  w->link = std::make_shared<WorkerLink>(sock, pid);
  if (ctx_.live != nullptr) ctx_.live->add(w->link);
  w->thread = std::thread([this, w, sock, peer] {
    bool reaped = false;
    // A worker that dies with its session open is reaped before the core seals its recording
    // ("worker died"): once reaped it cannot write another byte.
    auto reap_worker = [&] {
      ::shutdown(sock, SHUT_RDWR);  // the worker sees EOF and ends, if it has not already
      reap(w->pid, std::chrono::seconds(5));
      reaped = true;
    };
    answer_worker(
        ctx_, peer, sock, host_key_, [w] { w->authenticated = true; }, w->link.get(), reap_worker);
    ::close(sock);
    if (!reaped) reap(w->pid, std::chrono::seconds(5));  // never twice: the pid may be reused
    w->done = true;
  });
  std::lock_guard lock(mu_);
  workers_.push_back(std::move(worker));
}

void SshGateway::reap_finished() {
  std::lock_guard lock(mu_);
  for (auto it = workers_.begin(); it != workers_.end();) {
    if ((*it)->done) {
      forget(**it);
      (*it)->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void SshGateway::forget(const Worker& worker) {
  if (ctx_.live != nullptr && worker.link) ctx_.live->remove(worker.link.get());
}

void SshGateway::end_late_logins() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  for (auto& w : workers_) {
    // Not done: its monitor has not reaped it, so the pid is still the worker's.
    if (w->done || w->authenticated || w->grace_killed) continue;
    if (now - w->accepted < ctx_.limits.login_grace_time) continue;
    w->grace_killed = true;
    ::kill(w->pid, SIGKILL);  // its socket to the client closes with it
    module_logger("ssh")->info("ssh connection from {}: not logged in within {} s; closed",
                               w->source, ctx_.limits.login_grace_time.count());
  }
}

}  // namespace sekisho::broker
