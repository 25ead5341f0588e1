#include "broker/daemon/serve.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "base/crypto.hpp"
#include "base/logging.hpp"
#include "broker/access/checkout_service.hpp"
#include "broker/access/notifier.hpp"
#include "broker/access/request_service.hpp"
#include "broker/api/server.hpp"
#include "broker/auth/auth_service.hpp"
#include "broker/auth/directory_recheck.hpp"
#include "broker/daemon/directory_factory.hpp"
#include "broker/daemon/scheduler.hpp"
#include "broker/rotation/rotation_jobs.hpp"
#include "broker/rotation/rotation_service.hpp"
#include "broker/rotation/ssh_connector.hpp"
#include "broker/rotation/ssh_rotation_lookup.hpp"
#include "broker/sessions/live_sessions.hpp"
#include "broker/sessions/recording_retention.hpp"
#include "broker/sessions/session_seal.hpp"
#include "broker/ssh/gateway.hpp"
#include "storage/audit_checkpoint.hpp"
#include "storage/audit_log.hpp"
#include "storage/data_dir.hpp"

namespace sekisho::broker {

namespace {

// Signs audit checkpoints: on the scheduler's turn, when the daemon stops, and once more after
// the stop event. A checkpoint is written only when the log has grown since the last one.
class Checkpointer {
 public:
  Checkpointer(storage::AuditLog& log, const SigningKey& key, std::filesystem::path file,
               const Clock& clock)
      : log_(log), key_(key), file_(std::move(file)), clock_(clock) {}

  // Any thread; one checkpoint at a time.
  void write() {
    std::lock_guard lock(mu_);
    auto cp = storage::write_checkpoint(log_, key_, file_, clock_, last_seq_);
    if (!cp) {
      module_logger("audit")->error("audit checkpoint failed: {}", cp.error().message);
    } else if (cp->has_value()) {
      last_seq_ = (*cp)->seq;
    }
  }

 private:
  storage::AuditLog& log_;
  const SigningKey& key_;
  std::filesystem::path file_;
  const Clock& clock_;
  std::mutex mu_;
  std::int64_t last_seq_ = 0;
};

sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// How the API server's run ended: by a termination signal, or by failing.
struct RunEnd {
  int signal = 0;  // 0: no signal, the API server stopped by itself
  bool clean = true;
};

// The running daemon: each step of serve() is one member function, and the members are declared
// in the order the steps create them, so that an early return unwinds in reverse.
class Daemon {
 public:
  Daemon(const std::filesystem::path& data_dir, const Config& config)
      : dir_(data_dir), config_(config) {}

  Result<void> open_store();
  Result<void> start_directory();
  Result<void> start_rotation();
  Result<void> start_listeners();
  void schedule_jobs();
  RunEnd run_until_signal();
  Result<void> shut_down(RunEnd end);

 private:
  std::unique_ptr<WebhookNotifier> make_notifier();
  void start_checkouts(RotationTrigger& rotation, const rotation::RotationSettings& settings);

  const storage::DataDir dir_;
  const Config& config_;
  const SystemClock clock_;
  // open_store()
  std::optional<storage::DataDirLock> lock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::AuditLog> audit_;
  std::optional<SigningKey> signing_;
  std::unique_ptr<Checkpointer> checkpoints_;
  // start_directory()
  std::unique_ptr<ldap::Directory> directory_;
  std::unique_ptr<AuthService> auth_;
  std::unique_ptr<WebhookNotifier> notifier_;
  std::unique_ptr<RequestService> requests_;
  // start_rotation()
  std::unique_ptr<SshConnector> ssh_connector_;
  std::unique_ptr<RotationService> rotation_;
  std::unique_ptr<RotationJobs> rotation_jobs_;
  std::unique_ptr<CheckoutService> checkouts_;
  // start_listeners()
  std::unique_ptr<LiveSessions> live_;
  HostKeyProbe host_key_probe_;
  std::unique_ptr<ApiContext> api_ctx_;
  std::unique_ptr<ApiServer> api_;
  ListenAddress api_bound_{"", 0};
  std::unique_ptr<SshGateway> ssh_;
  ListenAddress ssh_bound_{"", 0};
  // schedule_jobs()
  std::unique_ptr<DirectoryRecheck> recheck_;
  std::unique_ptr<RecordingRetention> retention_;
  Scheduler scheduler_;  // last: stopped (by its destructor) before what its jobs use
};

// Holds the data dir lock, opens the store, the audit log and the signing key, and seals what a
// stopped run left open, before any listener opens.
Result<void> Daemon::open_store() {
  auto lock = storage::DataDirLock::acquire(dir_);
  if (!lock) return tl::make_unexpected(lock.error());
  lock_.emplace(std::move(*lock));
  auto store = storage::open_data_dir_store(dir_, {.migrate = true});
  if (!store) return tl::make_unexpected(store.error());
  store_ = std::move(*store);
  auto audit = storage::AuditLog::open(*store_, clock_);
  if (!audit) return tl::make_unexpected(audit.error());
  audit_ = std::move(*audit);
  auto signing = SigningKey::load(dir_.signing_key());
  if (!signing) return tl::make_unexpected(signing.error());
  signing_.emplace(std::move(*signing));
  checkpoints_ =
      std::make_unique<Checkpointer>(*audit_, *signing_, dir_.audit_checkpoints(), clock_);
  // Sessions a stopped run left open are sealed and ended, so that no session stays open and
  // every recording verifies (docs/recordings.md "Seal").
  auto sealed = seal_open_sessions({*store_, *audit_, dir_, *signing_, clock_});
  if (!sealed) return tl::make_unexpected(sealed.error());
  if (*sealed > 0) {
    module_logger("gateway")->warn("{} session(s) left open by the previous run were sealed",
                                   *sealed);
  }
  return ok();
}

// Notifications never block a request; what is not delivered is audited, not lost silently.
// Null when no webhook is configured.
std::unique_ptr<WebhookNotifier> Daemon::make_notifier() {
  if (config_.webhooks.empty()) return nullptr;
  storage::AuditLog& audit_log = *audit_;
  return std::make_unique<WebhookNotifier>(
      config_.webhooks, WebhookOptions{},
      [&audit_log](const std::string& target, const Notification& n, const std::string& why) {
        module_logger("notify")->warn("notification {} to {} failed: {}", n.event, target, why);
        (void)audit_log.append(
            {"sekishod",
             "notify.failed",
             target,
             {{"event", n.event}, {"request", n.fields.value("request", "")}, {"reason", why}}});
      },
      clock_);
}

// The directory (local or LDAP), logins, notifications and the request workflow.
Result<void> Daemon::start_directory() {
  auto directory = make_directory(config_, *store_);
  if (!directory) return tl::make_unexpected(directory.error());
  directory_ = std::move(*directory);
  auth_ = std::make_unique<AuthService>(*store_, *audit_, *directory_, config_.auth, clock_);
  notifier_ = make_notifier();
  requests_ =
      std::make_unique<RequestService>(*store_, *audit_, config_.policy, notifier_.get(), clock_);
  return ok();
}

// Password rotation: the service that owns every rotation and the `rotate` jobs. Jobs a stopped
// run left running are marked interrupted; accounts in doubt are recovered by the background
// workers while the listeners already serve (a session that needs one waits for it).
Result<void> Daemon::start_rotation() {
  // ssh: one worker per change or login, started like the host-key probe's. ldap is not wired
  // yet (its accounts are manual until it is); rdp has no connector (manual).
  ssh_connector_ = std::make_unique<SshConnector>(
      SshConnectorOptions{{config_.ssh_limits.worker_user, dir_.root(), ""},
                          std::chrono::seconds(30)},
      make_ssh_rotation_lookup(*store_, config_.rotation));
  RotationServiceContext ctx{*store_, *audit_, clock_, config_.rotation, {}, notifier_.get()};
  ctx.connector_for =
      [ssh = ssh_connector_.get()](const std::string& protocol) -> rotation::Connector* {
    return protocol == "ssh" ? ssh : nullptr;
  };
  rotation_ = std::make_unique<RotationService>(std::move(ctx));
  rotation_jobs_ = std::make_unique<RotationJobs>(*rotation_, *store_, *audit_, clock_);
  start_checkouts(*rotation_, config_.rotation);
  return rotation_->start();
}

// Check-out of checkout-mode requests: every end of a check-out owes `rotation` a rotation of the
// account, and a check-out waits for an account in doubt to be settled by it. Manual accounts are
// lent where `settings` (the [[rotation.policy]] rules) allow unrotated check-outs. Called once
// the rotation service exists, before start_listeners().
void Daemon::start_checkouts(RotationTrigger& rotation,
                             const rotation::RotationSettings& settings) {
  checkouts_ = std::make_unique<CheckoutService>(*store_, *audit_, *requests_, rotation,
                                                 checkout_rules(settings), clock_);
}

// Binds the HTTPS API and the SSH listener (they accept once run_until_signal() runs) and
// records the start in the audit log.
Result<void> Daemon::start_listeners() {
  api_ctx_ = std::make_unique<ApiContext>(ApiContext{*store_, *audit_, *auth_, clock_});
  api_ctx_->requests = requests_.get();
  api_ctx_->checkouts = checkouts_.get();
  api_ctx_->data_dir = &dir_;
  api_ctx_->signing_public_pem = signing_->public_pem();
  // hosts add: a worker fetches the SSH host key, whether or not [ssh] listens.
  host_key_probe_ = {config_.ssh_limits.worker_user, dir_.root(), ""};
  api_ctx_->host_key_probe = &host_key_probe_;
  api_ctx_->rotation = rotation_.get();
  api_ctx_->rotation_jobs = rotation_jobs_.get();
  auto api = ApiServer::create(dir_, config_, *api_ctx_);
  if (!api) return tl::make_unexpected(api.error());
  api_ = std::move(*api);
  auto port = api_->bind(config_.api);
  if (!port) return tl::make_unexpected(port.error());
  api_bound_ = {config_.api.host, static_cast<std::uint16_t>(*port)};

  // The SSH listener: one worker process per connection; the core answers them.
  // On by default ([ssh] listen = "0.0.0.0:2222"); an empty host (set only by code) means none.
  if (!config_.ssh.host.empty()) {
    live_ = std::make_unique<LiveSessions>(
        LiveSessionsContext{*store_, *audit_, clock_, config_.ssh_limits.warn_before});
    SshGatewayContext gateway_ctx{*store_,   *audit_, *requests_,  dir_,
                                  *signing_, clock_,  auth_.get(), config_.ssh_limits};
    gateway_ctx.recordings = config_.recordings;
    gateway_ctx.notifier = notifier_.get();
    gateway_ctx.live = live_.get();
    gateway_ctx.rotation = rotation_.get();
    auto bound_ssh = SshGateway::bind(config_.ssh, gateway_ctx);
    if (!bound_ssh) return tl::make_unexpected(bound_ssh.error());
    ssh_ = std::move(*bound_ssh);
    ssh_bound_ = {config_.ssh.host, ssh_->port()};
    api_ctx_->live_sessions = live_.get();  // kill of live sessions
  }

  auto started = audit_->append({"sekishod",
                                 "gateway.start",
                                 dir_.root().string(),
                                 {{"version", SEKISHO_VERSION},
                                  {"api", api_bound_.text()},
                                  {"ssh", ssh_ ? ssh_bound_.text() : "off"},
                                  {"pid", ::getpid()}}});
  if (!started) return tl::make_unexpected(started.error());
  return ok();
}

// The periodic jobs, each on its own scheduler thread.
void Daemon::schedule_jobs() {
  scheduler_.add("audit.checkpoint", config_.audit_checkpoint_interval,
                 [this] { checkpoints_->write(); });
  // Expiry, closing and overdue reviews happen with time alone: written and audited within a
  // second (readers evaluate on read, so nothing depends on this being on time).
  scheduler_.add("requests.sweep", std::chrono::seconds(1), [this] {
    if (auto r = requests_->sweep(); !r) {
      module_logger("requests")->error("request sweep failed: {}", r.error().message);
    }
  });
  // Check-outs whose window has passed end and owe their rotation (the request sweep closes the
  // requests).
  if (checkouts_) {
    scheduler_.add("checkouts.sweep", std::chrono::seconds(1), [this] {
      if (auto r = checkouts_->sweep(); !r) {
        module_logger("requests")->error("check-out sweep failed: {}", r.error().message);
      }
    });
  }
  // Leavers and lost roles: everyone holding a token, a live session or an open request is
  // looked up again every [directory] recheck (the job only asks whether a pass is due).
  CutOffTargets cut_off{*store_, *audit_, requests_.get(), {}, checkouts_.get()};
  if (live_) {
    cut_off.end_sessions = [live = live_.get()](const std::string& user,
                                                const std::string& reason) {
      return live->end_sessions_of(user, reason);
    };
  }
  recheck_ =
      std::make_unique<DirectoryRecheck>(cut_off, *directory_, clock_, config_.directory_recheck);
  scheduler_.add("directory.recheck", std::chrono::seconds(1), [this] {
    if (auto r = recheck_->run_if_due(); !r) {
      module_logger("auth")->error("directory recheck failed: {}", r.error().message);
    }
  });
  // Retention: recordings of sessions that ended more than [recordings] keep ago are deleted
  // (the job only asks whether a pass is due).
  retention_ =
      std::make_unique<RecordingRetention>(*store_, *audit_, dir_, clock_, config_.recordings.keep);
  scheduler_.add("recordings.retention", std::chrono::seconds(1), [this] {
    if (auto r = retention_->run_if_due(); !r) {
      module_logger("recorder")->error("recording retention failed: {}", r.error().message);
    }
  });
  // Rotation: recover accounts in doubt, rotate owed ones and those due on their schedule.
  scheduler_.add("rotation.sweep", config_.rotation_sweep, [this] {
    if (auto r = rotation_->sweep(); !r) {
      module_logger("rotation")->error("rotation sweep failed: {}", r.error().message);
    }
  });
  // Window warnings and closes, and the end of sessions that ignore a close.
  if (live_) {
    scheduler_.add("sessions.windows", std::chrono::seconds(1),
                   [live = live_.get()] { live->check_windows(); });
  }
  scheduler_.start();
}

// Serves until SIGTERM or SIGINT, or until the API server fails.
RunEnd Daemon::run_until_signal() {
  auto log = module_logger("gateway");
  std::atomic<int> stop_signal{0};
  std::atomic<bool> run_returned{false};
  std::thread signal_thread([&] {
    const sigset_t signals = termination_signals();
    int sig = 0;
    sigwait(&signals, &sig);
    stop_signal = sig;
    // httplib ignores stop() until its accept loop runs: repeat until run() has returned.
    while (!run_returned) {
      api_->stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  if (ssh_) {
    ssh_->start();
    log->info("ssh listening on {}", ssh_bound_.text());
  }
  log->info("api listening on https://{}/ (data dir {})", api_bound_.text(), dir_.root().string());
  const bool clean = api_->run();
  run_returned = true;
  if (stop_signal == 0) ::kill(::getpid(), SIGTERM);  // wake the signal thread
  signal_thread.join();
  return {stop_signal, clean};
}

// Stops in order: the periodic jobs (a recheck pass may be ending sessions, the window check
// pushing to workers), then the SSH workers, whose open sessions are finished before the stop
// event; then it records the stop and signs a final checkpoint.
Result<void> Daemon::shut_down(RunEnd end) {
  scheduler_.stop();
  if (ssh_) ssh_->stop();
  // A rotation under way is finished (a host half changed is worse than a late stop); what is
  // queued stays owed in the store.
  rotation_jobs_->stop();
  rotation_->stop();
  checkpoints_->write();
  if (notifier_) notifier_->stop();

  const bool api_failed = !end.clean && end.signal == 0;
  const std::string reason = api_failed             ? "api failure"
                             : end.signal == SIGINT ? "SIGINT"
                                                    : "SIGTERM";
  auto stopped = audit_->append({"sekishod",
                                 "gateway.stop",
                                 dir_.root().string(),
                                 {{"reason", reason}, {"pid", ::getpid()}}});
  checkpoints_->write();
  if (!stopped) return tl::make_unexpected(stopped.error());
  module_logger("gateway")->info("stopped ({})", reason);
  if (api_failed) return fail(ErrorCode::kIo, "the API server stopped unexpectedly");
  return ok();
}

}  // namespace

Result<void> serve(const std::filesystem::path& data_dir, const Config& config) {
  // Block termination signals in every thread; one thread takes them with sigwait.
  const sigset_t signals = termination_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Daemon daemon(data_dir, config);
  if (auto r = daemon.open_store(); !r) return r;
  if (auto r = daemon.start_directory(); !r) return r;
  if (auto r = daemon.start_rotation(); !r) return r;
  if (auto r = daemon.start_listeners(); !r) return r;
  daemon.schedule_jobs();
  return daemon.shut_down(daemon.run_until_signal());
}

}  // namespace sekisho::broker
