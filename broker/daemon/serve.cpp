#include "broker/daemon/serve.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "base/crypto.hpp"
#include "base/logging.hpp"
#include "broker/access/notifier.hpp"
#include "broker/access/request_service.hpp"
#include "broker/api/server.hpp"
#include "broker/auth/auth_service.hpp"
#include "broker/auth/directory_recheck.hpp"
#include "broker/daemon/directory_factory.hpp"
#include "broker/sessions/recording_retention.hpp"
#include "broker/sessions/session_seal.hpp"
#include "broker/ssh/gateway.hpp"
#include "storage/audit_checkpoint.hpp"
#include "storage/audit_log.hpp"
#include "storage/data_dir.hpp"

namespace sekisho::broker {

namespace {

// Signs a checkpoint every `interval` until stopped, then once more.
class CheckpointTimer {
 public:
  CheckpointTimer(storage::AuditLog& log, const SigningKey& key, std::filesystem::path file,
                  const Clock& clock, std::chrono::seconds interval)
      : log_(log), key_(key), file_(std::move(file)), clock_(clock), interval_(interval) {}

  void run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, interval_, [&] { return stopping_; });
      lock.unlock();
      checkpoint();
      lock.lock();
    }
  }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }
  void checkpoint() {
    std::lock_guard lock(write_mu_);
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
  std::chrono::seconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::mutex write_mu_;
  std::int64_t last_seq_ = 0;
};

// Calls `tick` every `interval` until stopped (the request sweeper).
class Ticker {
 public:
  Ticker(std::chrono::milliseconds interval, std::function<void()> tick)
      : interval_(interval), tick_(std::move(tick)), thread_([this] { run(); }) {}
  ~Ticker() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [&] { return stopping_; })) {
      lock.unlock();
      tick_();
      lock.lock();
    }
  }
  std::chrono::milliseconds interval_;
  std::function<void()> tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

Result<void> serve(const std::filesystem::path& data_dir, const Config& config) {
  auto log = module_logger("gateway");
  // Block termination signals in every thread; one thread takes them with sigwait.
  const sigset_t signals = termination_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const storage::DataDir dir(data_dir);
  auto lock = storage::DataDirLock::acquire(dir);
  if (!lock) return tl::make_unexpected(lock.error());
  auto store = storage::open_data_dir_store(dir, {.migrate = true});
  if (!store) return tl::make_unexpected(store.error());
  const SystemClock clock;
  auto audit = storage::AuditLog::open(**store, clock);
  if (!audit) return tl::make_unexpected(audit.error());
  auto signing = SigningKey::load(dir.signing_key());
  if (!signing) return tl::make_unexpected(signing.error());
  // Before any listener opens: sessions a stopped run left open are sealed and ended, so that no
  // session stays open and every recording verifies (docs/recordings.md "Seal").
  if (auto sealed = seal_open_sessions({**store, **audit, dir, *signing, clock}); !sealed) {
    return tl::make_unexpected(sealed.error());
  } else if (*sealed > 0) {
    log->warn("{} session(s) left open by the previous run were sealed", *sealed);
  }

  auto directory = make_directory(config, **store);
  if (!directory) return tl::make_unexpected(directory.error());
  AuthService auth(**store, **audit, **directory, config.auth, clock);

  // Notifications never block a request; what is not delivered is audited, not lost silently.
  std::unique_ptr<WebhookNotifier> notifier;
  if (!config.webhooks.empty()) {
    storage::AuditLog& audit_log = **audit;
    notifier = std::make_unique<WebhookNotifier>(
        config.webhooks, WebhookOptions{},
        [&audit_log](const std::string& target, const Notification& n, const std::string& why) {
          module_logger("notify")->warn("notification {} to {} failed: {}", n.event, target, why);
          (void)audit_log.append(
              {"sekishod",
               "notify.failed",
               target,
               {{"event", n.event}, {"request", n.fields.value("request", "")}, {"reason", why}}});
        },
        clock);
  }
  RequestService requests(**store, **audit, config.policy, notifier.get(), clock);
  ApiContext ctx{**store, **audit, auth, clock};
  ctx.requests = &requests;
  ctx.data_dir = &dir;
  ctx.signing_public_pem = signing->public_pem();
  auto api = ApiServer::create(dir, config, ctx);
  if (!api) return tl::make_unexpected(api.error());
  auto port = (*api)->bind(config.api);
  if (!port) return tl::make_unexpected(port.error());
  const ListenAddress bound{config.api.host, static_cast<std::uint16_t>(*port)};

  // The SSH listener: one worker process per connection; the core answers them.
  // On by default ([ssh] listen = "0.0.0.0:2222"); an empty host (set only by code) means none.
  std::unique_ptr<SshGateway> ssh;
  ListenAddress ssh_bound{"", 0};
  if (!config.ssh.host.empty()) {
    SshGatewayContext gateway_ctx{**store,  **audit, requests, dir,
                                  *signing, clock,   &auth,    config.ssh_limits};
    gateway_ctx.recordings = config.recordings;
    gateway_ctx.notifier = notifier.get();
    auto bound_ssh = SshGateway::bind(config.ssh, gateway_ctx);
    if (!bound_ssh) return tl::make_unexpected(bound_ssh.error());
    ssh = std::move(*bound_ssh);
    ssh_bound = {config.ssh.host, ssh->port()};
    ctx.ssh = ssh.get();  // kill of live sessions; the API stops before the gateway does
  }

  auto started = (*audit)->append({"sekishod",
                                   "gateway.start",
                                   dir.root().string(),
                                   {{"version", SEKISHO_VERSION},
                                    {"api", bound.text()},
                                    {"ssh", ssh ? ssh_bound.text() : "off"},
                                    {"pid", ::getpid()}}});
  if (!started) return tl::make_unexpected(started.error());

  CheckpointTimer timer(**audit, *signing, dir.audit_checkpoints(), clock,
                        config.audit_checkpoint_interval);
  // Expiry, closing and overdue reviews happen with time alone: written and audited within a
  // second (readers evaluate on read, so nothing depends on this being on time).
  auto sweeper = std::make_unique<Ticker>(std::chrono::seconds(1), [&requests] {
    if (auto r = requests.sweep(); !r) {
      module_logger("requests")->error("request sweep failed: {}", r.error().message);
    }
  });
  // Leavers and lost roles: everyone holding a token, a live session or an open request is
  // looked up again every [directory] recheck (the ticker only asks whether a pass is due).
  CutOffTargets cut_off{**store, **audit, &requests, {}};
  if (ssh) {
    SshGateway* gateway = ssh.get();
    cut_off.end_sessions = [gateway](const std::string& user, const std::string& reason) {
      return gateway->end_sessions_of(user, reason);
    };
  }
  DirectoryRecheck recheck(cut_off, **directory, clock, config.directory_recheck);
  auto rechecker = std::make_unique<Ticker>(std::chrono::seconds(1), [&recheck] {
    if (auto r = recheck.run_if_due(); !r) {
      module_logger("auth")->error("directory recheck failed: {}", r.error().message);
    }
  });
  // Retention: recordings of sessions that ended more than [recordings] keep ago are deleted
  // (the ticker only asks whether a pass is due).
  RecordingRetention retention(**store, **audit, dir, clock, config.recordings.keep);
  auto retainer = std::make_unique<Ticker>(std::chrono::seconds(1), [&retention] {
    if (auto r = retention.run_if_due(); !r) {
      module_logger("recorder")->error("recording retention failed: {}", r.error().message);
    }
  });
  std::thread checkpoint_thread([&] { timer.run(); });
  std::atomic<int> stop_signal{0};
  std::atomic<bool> run_returned{false};
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    stop_signal = sig;
    // httplib ignores stop() until its accept loop runs: repeat until run() has returned.
    while (!run_returned) {
      (*api)->stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  if (ssh) {
    ssh->start();
    log->info("ssh listening on {}", ssh_bound.text());
  }
  log->info("api listening on https://{}/ (data dir {})", bound.text(), dir.root().string());
  const bool clean = (*api)->run();
  run_returned = true;
  if (stop_signal == 0) ::kill(::getpid(), SIGTERM);  // wake the signal thread
  signal_thread.join();
  rechecker.reset();     // before the gateway stops: a pass may be ending its sessions
  if (ssh) ssh->stop();  // workers end; their open sessions are finished before the stop event
  timer.stop();
  checkpoint_thread.join();
  sweeper.reset();
  retainer.reset();
  if (notifier) notifier->stop();

  const std::string reason = !clean && stop_signal == 0 ? "api failure"
                             : stop_signal == SIGINT    ? "SIGINT"
                                                        : "SIGTERM";
  auto stopped = (*audit)->append(
      {"sekishod", "gateway.stop", dir.root().string(), {{"reason", reason}, {"pid", ::getpid()}}});
  timer.checkpoint();
  if (!stopped) return tl::make_unexpected(stopped.error());
  log->info("stopped ({})", reason);
  if (!clean && stop_signal == 0)
    return fail(ErrorCode::kIo, "the API server stopped unexpectedly");
  return ok();
}

}  // namespace sekisho::broker
