#include "broker/ssh/host_key_probe.hpp"

#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/logging.hpp"
#include "broker/sessions/target_connect.hpp"
#include "privsep/worker_privileges.hpp"
#include "privsep/worker_protocol.hpp"
#include "privsep/worker_spawn.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;

// A worker that has answered (or been killed) exits at once; this only bounds a confused one.
constexpr auto kReapGrace = std::chrono::seconds(2);

// SIGKILLs `pid` when `after` has passed and it has not been cancelled, so that the wait for the
// worker's answer is bounded even if the worker stalls inside a message. The pid stays the
// worker's throughout: it is reaped only after this has been destroyed.
class KillAtDeadline {
 public:
  KillAtDeadline(pid_t pid, std::chrono::milliseconds after)
      : thread_([this, pid, after] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, after, [this] { return cancelled_; })) ::kill(pid, SIGKILL);
        }) {}
  ~KillAtDeadline() {
    {
      std::lock_guard lock(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  KillAtDeadline(const KillAtDeadline&) = delete;
  KillAtDeadline& operator=(const KillAtDeadline&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

std::string where_of(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

// Sends the job and waits for the one answer, both within `limit`.
Result<json> ask_worker(const privsep::SpawnedWorker& worker, const json& hello,
                        std::chrono::milliseconds limit) {
  KillAtDeadline watchdog(worker.pid, limit);
  if (auto sent = wire::send_message(worker.core.get(), hello); !sent) {
    return tl::make_unexpected(sent.error());
  }
  auto answer = wire::receive_message(worker.core.get());
  if (!answer) return tl::make_unexpected(answer.error());
  return std::move(answer->body);
}

// The worker's answer as a checked host key: parsed like a user's key, so that the core pins
// only a well-formed key of an accepted type, in canonical form.
Result<ssh::SshHostKey> key_from_answer(const json& answer, const std::string& where) {
  const std::string type = answer.value("type", "");
  if (type == "probe_failed") {
    const auto message = answer.find("message");
    std::string why = message != answer.end() && message->is_string() ? message->get<std::string>()
                                                                      : "the probe failed";
    std::replace(why.begin(), why.end(), '\n', ' ');
    return fail(ErrorCode::kUnavailable, "cannot reach " + where + ": " + why);
  }
  const auto key_type = answer.find("key_type");
  const auto base64 = answer.find("base64");
  if (type != "host_key" || key_type == answer.end() || !key_type->is_string() ||
      base64 == answer.end() || !base64->is_string()) {
    return fail(ErrorCode::kUnavailable, "no host key from " + where);
  }
  auto key =
      ssh::parse_ssh_public_key(key_type->get<std::string>() + " " + base64->get<std::string>());
  if (!key) {
    return fail(ErrorCode::kUnavailable, "bad host key from " + where + ": " + key.error().message);
  }
  return ssh::SshHostKey{key->type, key->type + " " + key->base64, key->fingerprint};
}

}  // namespace

Result<ssh::SshHostKey> probe_ssh_host_key(const HostKeyProbe& probe, const std::string& address,
                                           std::uint16_t port, std::chrono::seconds timeout) {
  if (address.empty() || port == 0) {
    return fail(ErrorCode::kInvalidArgument, "host address and port are required");
  }
  const std::string where = where_of(address, port);
  const auto wait = std::max(timeout, std::chrono::seconds(1));
  auto privileges = privsep::resolve_worker_privileges(probe.worker_user, probe.data_root);
  if (!privileges) return tl::make_unexpected(privileges.error());
  std::string exe = probe.worker_exe;
  if (exe.empty()) {
    auto beside = privsep::worker_executable_beside_me();
    if (!beside) return tl::make_unexpected(beside.error());
    exe = std::move(*beside);
  }
  auto tcp = connect_target_tcp(address, port, wait);
  if (!tcp) {
    return fail(ErrorCode::kUnavailable, "cannot reach " + where + ": " + tcp.error().message);
  }
  auto worker = privsep::spawn_worker(exe, tcp->fd.get());
  tcp->fd = wire::Fd();  // the worker has its own copy; the core keeps none
  if (!worker) {
    return fail(ErrorCode::kInternal,
                "cannot start a host-key probe worker: " + worker.error().message);
  }
  module_logger("ssh")->info("host key probe of {}: worker {}", where, worker->pid);
  const json hello = {{"type", "hello"},
                      {"job", "probe_host_key"},
                      {"address", address},
                      {"port", port},
                      {"timeout_seconds", wait.count()},
                      {"change_user", privsep::privileges_to_hello(*privileges)}};
  auto answer = ask_worker(*worker, hello, 2 * wait);
  ::shutdown(worker->core.get(), SHUT_RDWR);
  privsep::reap_worker(worker->pid, kReapGrace);
  if (!answer) {
    return fail(ErrorCode::kUnavailable,
                "cannot reach " + where + ": the probe worker ended without an answer");
  }
  return key_from_answer(*answer, where);
}

}  // namespace sekisho::broker
