// The core's side of the SSH gateway: the listener, one `sekisho-worker` process per connection
// (fork+exec through posix_spawn, never a bare fork of the multi-threaded core), and the monitor
// that answers each worker's whitelisted requests (privsep/worker_protocol.hpp). Everything that
// needs the store, the vault, the signing key or the audit log happens here; the worker only
// speaks SSH. Each worker's session is registered with LiveSessions, which decides its window
// warning, close and kill for every protocol.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/result.hpp"
#include "broker/access/notifier.hpp"
#include "broker/access/request_service.hpp"
#include "broker/daemon/config.hpp"
#include "broker/daemon/scheduler.hpp"
#include "broker/rotation/rotation_trigger.hpp"
#include "broker/sessions/audit_rate_limit.hpp"
#include "broker/sessions/live_sessions.hpp"
#include "broker/ssh/worker_link.hpp"
#include "privsep/worker_privileges.hpp"
#include "privsep/worker_protocol.hpp"
#include "storage/audit_log.hpp"
#include "storage/data_dir.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// What the gateway uses; all of it outlives the SshGateway.
struct SshGatewayContext {
  storage::Store& store;
  storage::AuditLog& audit;
  RequestService& requests;
  const storage::DataDir& dir;
  const SigningKey& signer;
  const Clock& clock;
  // The API's login (directory, throttle, TOTP) for keyboard-interactive; null: public key only.
  AuthService* auth = nullptr;
  SshLimits limits{};
  // [recordings]: a new session is refused when its recording would not fit (cap, free disk).
  RecordingsConfig recordings{};
  // Filled by bind() from limits.worker_user; sent to each worker in its hello.
  privsep::WorkerPrivileges privileges{};
  // Set by the SshGateway to its own limiter: how many failed key probes one source address may
  // put in the audit trail per minute (across all its connections). Null: no limit (tests).
  AuditRateLimit* probe_audit = nullptr;
  // [[notify.webhook]]: the operator's alert when new sessions are refused because the recording
  // disk is full. Null: no webhooks configured (the error log and the audit event remain).
  Notifier* notifier = nullptr;
  // Set by the SshGateway: one such alert per window, however many sessions are refused in it.
  AuditRateLimit* disk_alerts = nullptr;
  // Where each worker's session is registered for the window check and kills (the daemon runs
  // its check). Null: none (tests of the monitor alone).
  LiveSessions* live = nullptr;
  // Password rotation: a session's target login waits until its account is not in doubt. Null:
  // no rotation runs (tests of the monitor alone).
  RotationTrigger* rotation = nullptr;
};

class SshGateway {
 public:
  // Binds `listen` (port 0: the kernel picks one; see port()) and reads the gateway's SSH host
  // key, which every worker receives at start (the worker needs it for the key exchange, as
  // OpenSSH's session process holds sshd's host key). Does not accept yet.
  [[nodiscard]] static Result<std::unique_ptr<SshGateway>> bind(const ListenAddress& listen,
                                                                SshGatewayContext ctx);
  ~SshGateway();  // stop()s
  SshGateway(const SshGateway&) = delete;
  SshGateway& operator=(const SshGateway&) = delete;

  std::uint16_t port() const { return port_; }
  // Starts the accept thread and the check of [ssh] login_grace_time (every second).
  void start();
  // Stops accepting, sends SIGTERM to every live worker, and waits (bounded) for their monitors,
  // which finish any open session row. Idempotent; any thread.
  void stop();

 private:
  struct Worker;
  SshGateway(SshGatewayContext ctx, wire::Fd listener, std::uint16_t port, std::string host_key,
             std::string exe);
  void accept_loop();
  void spawn(wire::Fd client, const std::string& peer);
  // Whether a new connection stays under [ssh] max_sessions / max_startups /
  // per_source_max_startups; when not, logs and audits (at most one ssh.refused a minute, with
  // the count since the last one).
  bool admit(const std::string& peer);
  // Kills the workers whose client has not logged in within [ssh] login_grace_time: the core
  // enforces it, not the worker (a worker stuck in the key exchange cannot be asked to).
  void end_late_logins();
  void reap_finished();
  // Takes a finished or stopped worker's session out of the live sessions.
  void forget(const Worker& worker);

  AuditRateLimit probe_audit_;  // before ctx_, which points at it
  AuditRateLimit disk_alerts_;  // likewise
  SshGatewayContext ctx_;
  wire::Fd listener_;
  wire::Fd wake_read_, wake_write_;
  std::uint16_t port_;
  std::string host_key_;  // OpenSSH private key text (never logged)
  std::string exe_;
  std::mutex mu_;
  std::list<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stopping_{false};
  // admit()'s rate limit on refusal events (accept thread only).
  TimePoint last_refusal_audit_{};
  std::uint64_t refusals_unaudited_ = 0;
  std::thread accept_thread_;
  Scheduler login_grace_;  // end_late_logins() every second
};

}  // namespace sekisho::broker
