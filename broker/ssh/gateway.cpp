#include "broker/ssh/gateway.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
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
#include "privsep/worker_spawn.hpp"

namespace sekisho::broker {

namespace {

Result<std::string> read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return fail(ErrorCode::kIo, "cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
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
  if (ctx.privileges.change_user) {
    module_logger("ssh")->info("ssh workers run as {} (uid {}) in {}", ctx.privileges.user,
                               ctx.privileges.uid, ctx.privileges.root);
  } else {
    module_logger("ssh")->info("ssh workers run as the daemon's uid {}: not root, nothing to drop",
                               ::geteuid());
  }
  // The worker is its own executable next to sekishod (a slim image: docs/ssh_gateway.md).
  auto worker_exe = privsep::worker_executable_beside_me();
  if (!worker_exe) return tl::make_unexpected(worker_exe.error());

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
      new SshGateway(ctx, std::move(sock), port, std::move(*host_key), std::move(*worker_exe)));
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
  auto spawned = privsep::spawn_worker(exe_, client.get());
  if (!spawned) {
    log->error("cannot start an SSH worker for {}: {}", peer, spawned.error().message);
    return;
  }
  const pid_t pid = spawned->pid;
  wire::Fd core_end = std::move(spawned->core);
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
      privsep::reap_worker(w->pid, std::chrono::seconds(5));
      reaped = true;
    };
    answer_worker(
        ctx_, peer, sock, host_key_, [w] { w->authenticated = true; }, w->link.get(), reap_worker);
    ::close(sock);
    // Never twice: once reaped, the pid may be reused.
    if (!reaped) privsep::reap_worker(w->pid, std::chrono::seconds(5));
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
