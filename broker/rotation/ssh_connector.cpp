#include "broker/rotation/ssh_connector.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "base/logging.hpp"
#include "broker/ssh/target_worker.hpp"
#include "privsep/worker_protocol.hpp"
#include "privsep/worker_spawn.hpp"
#include "ssh/keys.hpp"

namespace sekisho::broker {

namespace ssh_connector_detail {

rotation::ChangeResult change_result(const Conversation& c) {
  using O = rotation::ChangeOutcome;
  if (c.result) {
    const std::string& why = c.result->message;
    switch (c.result->verdict) {
      case ssh::RotationVerdict::kChanged:
        return {O::kChanged, why};
      case ssh::RotationVerdict::kRejected:
        return {O::kPasswordRejected, why};
      case ssh::RotationVerdict::kRefused:
        return {O::kRefusedOld, why};
      case ssh::RotationVerdict::kUnreachable:
        return {O::kUnreachable, why};
      case ssh::RotationVerdict::kUnknown:
      case ssh::RotationVerdict::kAccepted:
        break;
    }
    return {O::kUnknown, why};
  }
  if (c.host_key_mismatch) return {O::kHostKeyMismatch, c.message};
  return {c.secrets_sent ? O::kUnknown : O::kUnreachable, c.message};
}

rotation::LoginResult login_result(const Conversation& c) {
  using O = rotation::LoginOutcome;
  if (c.result) {
    switch (c.result->verdict) {
      case ssh::RotationVerdict::kAccepted:
        return {O::kAccepted, c.result->message};
      case ssh::RotationVerdict::kRefused:
        return {O::kRefused, c.result->message};
      default:
        return {O::kUnreachable, c.result->message};
    }
  }
  return {c.host_key_mismatch ? O::kHostKeyMismatch : O::kUnreachable, c.message};
}

}  // namespace ssh_connector_detail

namespace {

using nlohmann::json;
using ssh_connector_detail::Conversation;

// A worker that has answered (or been killed) exits at once; this only bounds a confused one.
constexpr auto kReapGrace = std::chrono::seconds(2);
// The whole conversation: TCP connect, key exchange, login, chpasswd and its exit status each
// within the timeout, plus slack for starting the worker.
constexpr int kStepsPerJob = 4;
constexpr auto kSlack = std::chrono::seconds(5);

// Who logs in for one job; the secret is the caller's or the lookup's.
struct Login {
  std::string account;
  ssh::CredentialKind kind = ssh::CredentialKind::kPassword;
  const Secret* secret = nullptr;
};

ssh::CredentialKind kind_of(const std::string& kind) {
  return kind == "key" ? ssh::CredentialKind::kPrivateKey : ssh::CredentialKind::kPassword;
}

Login login_as(const SshRotationLogin& l) { return {l.account, kind_of(l.kind), &l.secret}; }

// Whether `presented` is the pinned key: both parsed as keys, compared by type and key blob.
bool is_pinned(const std::string& pinned, const std::string& presented) {
  auto a = ssh::parse_ssh_public_key(pinned);
  auto b = ssh::parse_ssh_public_key(presented);
  return a && b && a->type == b->type && a->base64 == b->base64;
}

std::string fingerprint_of(const std::string& line) {
  auto key = ssh::parse_ssh_public_key(line);
  return key ? key->fingerprint : std::string("an unreadable key");
}

// The string field `name` of a worker's message, or "".
std::string text_field(const json& body, const char* name) {
  const auto it = body.find(name);
  return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Sends this job's secrets in one message: the login's, and `second` (the new password of a
// change, the password su checks) under `field`. The JSON's copies are wiped as well as the frame.
Result<void> send_secrets(int sock, const Secret& login, const Secret* second, const char* field) {
  json message = {{"type", "secrets"}, {"secret", std::string()}};
  message["secret"].get_ref<std::string&>().assign(login.view());
  if (second != nullptr) {
    message[field] = std::string();
    message[field].get_ref<std::string&>().assign(second->view());
  }
  auto sent = wire::send_message(sock, message);
  (void)wire::take_secret(message, "secret");
  if (second != nullptr) (void)wire::take_secret(message, field);
  return sent;
}

// The worker's first answer: the host key it was shown. A result at this point can only be
// "unreachable" (the key exchange failed); any other is out of turn. True: go on.
bool host_key_step(int sock, const std::string& pinned, ssh::RotationJobKind kind,
                   Conversation& c) {
  auto shown = wire::receive_message(sock);
  if (!shown) {
    c.message = "the rotation worker ended without an answer";
    return false;
  }
  if (shown->body["type"] != "host_key") {
    auto r = ssh::rotation_result_from(shown->body, kind);
    if (r && r->verdict == ssh::RotationVerdict::kUnreachable) {
      c.result = std::move(*r);
    } else {
      c.message = "the rotation worker answered out of turn";
    }
    return false;
  }
  const std::string presented = text_field(shown->body, "key");
  if (!is_pinned(pinned, presented)) {
    (void)wire::send_message(sock, {{"type", "abort"}});
    c.host_key_mismatch = true;
    c.message = "the host key is not the one pinned at registration (pinned " +
                fingerprint_of(pinned) + ", presented " + fingerprint_of(presented) +
                "); nothing was sent";
    return false;
  }
  return true;
}

// The conversation of ssh/rotation_job.hpp with a started worker, within `limit`.
Conversation talk(const TargetWorker& w, const json& hello, const ssh::RotationJob& job,
                  const Login& login, const Secret* next, std::chrono::milliseconds limit) {
  Conversation c;
  const int sock = w.worker.core.get();
  privsep::WorkerDeadline deadline(w.worker.pid, limit);
  if (!wire::send_message(sock, hello)) {
    c.message = "the rotation worker did not take its job";
    return c;
  }
  if (!host_key_step(sock, job.pinned_host_key, job.kind, c)) return c;
  c.secrets_sent = true;  // from the first byte on, the worker may have them
  auto answer =
      send_secrets(sock, *login.secret, next,
                   job.kind == ssh::RotationJobKind::kChangePassword ? "new_password" : "password")
          .and_then([&] { return wire::receive_message(sock); });
  if (!answer) {
    c.message = "the rotation worker ended without an answer";
    return c;
  }
  auto r = ssh::rotation_result_from(answer->body, job.kind);
  if (!r) {
    c.message = "the rotation worker answered something that is not a result";
    return c;
  }
  // The worker redacted the host's words already; the core does not rely on it.
  r->message = ssh::redact(std::move(r->message), login.secret->view());
  if (next != nullptr) r->message = ssh::redact(std::move(r->message), next->view());
  c.result = std::move(*r);
  return c;
}

// One job on `host`: its own connection and worker, reaped before this returns.
Conversation run_job(const SshConnectorOptions& options, const SshRotationHost& host,
                     ssh::RotationJob job, const Login& login, const Secret* next) {
  Conversation c;
  const auto timeout =
      std::clamp(options.timeout, std::chrono::seconds(1), std::chrono::seconds(600));
  job.address = host.address;
  job.port = host.port;
  job.timeout_seconds = static_cast<long>(timeout.count());
  job.pinned_host_key = host.pinned_host_key;
  job.login = login.account;
  job.login_kind = login.kind;
  if (host.pinned_host_key.empty()) {
    c.message = "the host has no pinned host key";
    return c;
  }
  auto hello = ssh::rotation_hello(job);
  if (!hello) {
    c.message = "bad account or host for a rotation: " + hello.error().message;
    return c;
  }
  auto started = start_target_worker(options.workers, host.address, host.port, timeout);
  if (!started) {
    c.message = started.error().message;
    return c;
  }
  (*hello)["change_user"] = started->change_user;
  c = talk(*started, *hello, job, login, next, kStepsPerJob * timeout + kSlack);
  ::shutdown(started->worker.core.get(), SHUT_RDWR);
  privsep::reap_worker(started->worker.pid, kReapGrace);
  return c;
}

ssh::RotationJob change_job(const std::string& account, const Login& login) {
  ssh::RotationJob job;
  job.kind = ssh::RotationJobKind::kChangePassword;
  job.account = account;
  job.sudo = login.account != "root";  // only root's own chpasswd may set another's password
  return job;
}

// What refuses a change or reset before anything is sent: a key account (this connector changes
// passwords) or a password chpasswd cannot take.
std::optional<rotation::ChangeResult> refused_before_sending(const rotation::Target& target,
                                                             const Secret& next) {
  using O = rotation::ChangeOutcome;
  if (target.kind != "password") {
    return rotation::ChangeResult{O::kPasswordRejected,
                                  "the ssh connector sets passwords, not keys; nothing was sent"};
  }
  if (auto bad = ssh::check_chpasswd_password(next.view()); !bad) {
    return rotation::ChangeResult{O::kPasswordRejected, bad.error().message + "; nothing was sent"};
  }
  return std::nullopt;
}

template <typename R>
R logged(const char* what, const rotation::Target& t, R result) {
  module_logger("rotation")
      ->info("{} of {}@{} over ssh: {}{}", what, t.account, t.host,
             rotation::to_string(result.outcome),
             result.message.empty() ? "" : " (" + result.message + ")");
  return result;
}

}  // namespace

SshConnector::SshConnector(SshConnectorOptions options, SshRotationLookup lookup)
    : options_(std::move(options)), lookup_(std::move(lookup)) {}

rotation::ChangeResult SshConnector::change(const rotation::Target& target, const Secret& current,
                                            const Secret& next) {
  using O = rotation::ChangeOutcome;
  if (auto refused = refused_before_sending(target, next))
    return logged("change", target, *refused);
  auto host = lookup_(target);
  if (!host) {
    return logged("change", target, rotation::ChangeResult{O::kUnreachable, host.error().message});
  }
  const Login login = host->rotation ? login_as(*host->rotation)
                                     : Login{target.account, kind_of("password"), &current};
  const auto c = run_job(options_, *host, change_job(target.account, login), login, &next);
  return logged("change", target, settled(ssh_connector_detail::change_result(c)));
}

rotation::ChangeResult SshConnector::reset(const rotation::Target& target, const Secret& next) {
  using O = rotation::ChangeOutcome;
  if (auto refused = refused_before_sending(target, next)) return logged("reset", target, *refused);
  auto host = lookup_(target);
  if (!host) {
    return logged("reset", target, rotation::ChangeResult{O::kUnreachable, host.error().message});
  }
  if (!host->reconcile) {
    return logged("reset", target,
                  rotation::ChangeResult{O::kRefusedOld,
                                         "no reconcile account is configured for " + target.host});
  }
  const Login login = login_as(*host->reconcile);
  const auto c = run_job(options_, *host, change_job(target.account, login), login, &next);
  return logged("reset", target, settled(ssh_connector_detail::change_result(c)));
}

rotation::ChangeResult SshConnector::settled(rotation::ChangeResult result) const {
  if (result.outcome == rotation::ChangeOutcome::kUnknown) {
    std::this_thread::sleep_for(options_.unknown_change_settle);
  }
  return result;
}

rotation::LoginResult SshConnector::try_login(const rotation::Target& target,
                                              const Secret& secret) {
  using O = rotation::LoginOutcome;
  auto host = lookup_(target);
  if (!host)
    return logged("login", target, rotation::LoginResult{O::kUnreachable, host.error().message});
  ssh::RotationJob job;
  job.kind = ssh::RotationJobKind::kTryLogin;
  if (!host->verify_with_su) {
    const Login login{target.account, kind_of(target.kind), &secret};
    return logged(
        "login", target,
        ssh_connector_detail::login_result(run_job(options_, *host, job, login, nullptr)));
  }
  if (!host->rotation) {
    return logged("login", target,
                  rotation::LoginResult{O::kUnreachable,
                                        "checking a password through su needs a rotation account"});
  }
  job.account = target.account;
  const Login login = login_as(*host->rotation);
  return logged("login", target,
                ssh_connector_detail::login_result(run_job(options_, *host, job, login, &secret)));
}

}  // namespace sekisho::broker
