#include "worker/ssh/rotation_worker.hpp"

#include <libssh/libssh.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "base/logging.hpp"
#include "base/result.hpp"
#include "privsep/worker_privileges.hpp"
#include "privsep/worker_protocol.hpp"
#include "privsep/worker_sandbox.hpp"
#include "ssh/handles.hpp"
#include "ssh/rotation_job.hpp"
#include "ssh/target.hpp"

namespace sekisho::worker {

namespace {

using nlohmann::json;
using ssh::RotationJob;
using ssh::RotationJobKind;
using ssh::RotationVerdict;
using Clock = std::chrono::steady_clock;
using SshChannel = CHandle<ssh_channel_struct, ssh_channel_free>;
using ssh::SshSession;

// The most of the command's output kept: chpasswd's complaints are a line or two.
constexpr std::size_t kMaxOutput = 4096;
// Keyboard-interactive rounds followed before giving up (PAM may send an empty round first).
constexpr int kMaxKbdRounds = 4;

struct Verdict {
  RotationVerdict verdict;
  std::string message;
};

// The secrets of this one job, from the core's "secrets" message (wiped with the Secrets).
struct JobSecrets {
  Secret login;
  std::optional<Secret> next;  // change_password: the new password
  std::optional<Secret> su;    // try_login through su: the password su checks
};

// A client session for the job, made before root is given up (libssh and OpenSSL initialise
// here), its every blocking step bounded by the job's timeout.
Result<SshSession> session_for(const RotationJob& job) {
  auto s = ssh::new_target_session({.address = job.address,
                                    .port = job.port,
                                    .account = job.login,
                                    .pinned_host_key = job.pinned_host_key});
  if (!s) return s;
  long timeout = job.timeout_seconds;
  if (ssh_options_set(s->get(), SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK) {
    return fail(ErrorCode::kInternal, "bad options for the target");
  }
  return s;
}

// A keyboard-interactive login that types the password at the host's one hidden prompt, as a
// person would at a PAM host. A visible prompt or a second hidden one (a second factor) is not
// answered: the login is then refused. libssh's SSH_AUTH_* answer.
int kbd_login(ssh_session s, const Secret& password) {
  const std::string text(password.view());  // NUL-terminated for libssh; wiped below
  int answered = 0;
  int rc = ssh_userauth_kbdint(s, nullptr, nullptr);
  for (int round = 0; rc == SSH_AUTH_INFO && round < kMaxKbdRounds; ++round) {
    const int prompts = ssh_userauth_kbdint_getnprompts(s);
    for (int i = 0; i < prompts && rc == SSH_AUTH_INFO; ++i) {
      char echo = 1;
      (void)ssh_userauth_kbdint_getprompt(s, static_cast<unsigned int>(i), &echo);
      if (echo != 0 || ++answered > 1) rc = SSH_AUTH_DENIED;
      if (rc == SSH_AUTH_INFO &&
          ssh_userauth_kbdint_setanswer(s, static_cast<unsigned int>(i), text.c_str()) < 0) {
        rc = SSH_AUTH_ERROR;
      }
    }
    if (rc == SSH_AUTH_INFO) rc = ssh_userauth_kbdint(s, nullptr, nullptr);
  }
  wipe(const_cast<char*>(text.data()), text.size());
  return rc == SSH_AUTH_INFO ? SSH_AUTH_DENIED : rc;
}

// Logs in as the job's login: nullopt when the host let it in, else the verdict. A password goes
// by the "password" method when the host offers it, else by keyboard-interactive.
std::optional<Verdict> log_in(ssh_session s, const RotationJob& job, const Secret& secret) {
  if (job.login_kind == ssh::CredentialKind::kPassword) {
    const int none = ssh_userauth_none(s, nullptr);
    if (none == SSH_AUTH_SUCCESS) {
      // Any password would do: nothing about this one can be told.
      if (job.kind == RotationJobKind::kChangePassword) return std::nullopt;
      return Verdict{RotationVerdict::kRefused,
                     "the host lets " + job.login + " in without a password"};
    }
    if (none == SSH_AUTH_ERROR) {
      return Verdict{RotationVerdict::kUnreachable,
                     std::string("the login failed: ") + ssh_get_error(s)};
    }
    const int methods = ssh_userauth_list(s, nullptr);
    if ((methods & SSH_AUTH_METHOD_PASSWORD) == 0 && (methods & SSH_AUTH_METHOD_INTERACTIVE) != 0) {
      const int rc = kbd_login(s, secret);
      if (rc == SSH_AUTH_SUCCESS) return std::nullopt;
      if (rc == SSH_AUTH_DENIED || rc == SSH_AUTH_PARTIAL) {
        return Verdict{RotationVerdict::kRefused, "the host refused the password of " + job.login};
      }
      return Verdict{RotationVerdict::kUnreachable,
                     std::string("the login failed: ") + ssh_get_error(s)};
    }
  }
  auto r = ssh::log_in_to_target(s, job.login_kind, secret);
  if (r) return std::nullopt;
  const bool refused = r.error().code == ErrorCode::kUnauthenticated;
  return Verdict{refused ? RotationVerdict::kRefused : RotationVerdict::kUnreachable,
                 r.error().message};
}

// Reads what the command writes on stdout and stderr until its end of file, keeping the first
// kMaxOutput bytes. False when the connection broke or `deadline` passed first.
bool read_output(ssh_channel ch, std::string& out, Clock::time_point deadline) {
  char buf[1024];
  const auto keep = [&](int n) {
    out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n),
                                          kMaxOutput - std::min(kMaxOutput, out.size())));
  };
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    const int n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, static_cast<int>(left));
    if (n == SSH_ERROR) return false;
    if (n > 0) keep(n);
    int e = 0;
    while ((e = ssh_channel_read_nonblocking(ch, buf, sizeof buf, 1)) > 0) keep(e);
    if (e == SSH_ERROR) return false;
    if (ssh_channel_is_eof(ch) != 0 || ssh_channel_is_closed(ch) != 0) return true;
  }
}

// Runs chpasswd (or sudo -n chpasswd) with "ACCOUNT:NEXT\n" on its standard input only.
Verdict change_password(ssh_session s, const RotationJob& job, const JobSecrets& secrets) {
  const std::string command = ssh::chpasswd_command(job);
  SshChannel ch(ssh_channel_new(s));
  if (!ch || ssh_channel_open_session(ch.get()) != SSH_OK) {
    return {RotationVerdict::kUnreachable, "the host refused a session channel"};
  }
  if (ssh_channel_request_exec(ch.get(), command.c_str()) != SSH_OK) {
    return {RotationVerdict::kUnreachable, "the host refused to run " + command};
  }
  // One write: the line is far smaller than a packet, so the host gets all of it or nothing.
  const std::string_view next = secrets.next->view();
  std::string line;
  line.reserve(job.account.size() + next.size() + 2);  // no reallocation leaves a copy behind
  line.append(job.account).append(":").append(next).append("\n");
  const int wrote = ssh_channel_write(ch.get(), line.data(), static_cast<uint32_t>(line.size()));
  wipe(line.data(), line.size());
  if (wrote != static_cast<int>(line.size())) {
    return {RotationVerdict::kUnknown, "the connection broke while the new password was sent"};
  }
  (void)ssh_channel_send_eof(ch.get());
  std::string output;
  const bool ended =
      read_output(ch.get(), output, Clock::now() + std::chrono::seconds(job.timeout_seconds));
  const int status = ended ? ssh_channel_get_exit_status(ch.get()) : -1;
  output = ssh::redact(ssh::redact(std::move(output), next), secrets.login.view());
  if (status < 0) {
    return {RotationVerdict::kUnknown,
            command + " gave no exit status (the connection broke, or it was killed)"};
  }
  if (status == 0) return {RotationVerdict::kChanged, ""};
  return {RotationVerdict::kRejected,
          command + " exited " + std::to_string(status) + (output.empty() ? "" : ": " + output)};
}

// Reads the terminal's output until su's prompt (it ends in ": "; su has turned echo off by
// then, and typing earlier would be flushed). False when it ends, breaks or `deadline` passes.
bool await_prompt(ssh_channel ch, Clock::time_point deadline) {
  std::string seen;
  char buf[256];
  while (seen.size() < 2 || seen.compare(seen.size() - 2, 2, ": ") != 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || ssh_channel_is_eof(ch) != 0) return false;
    const int n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, static_cast<int>(left));
    if (n == SSH_ERROR) return false;
    if (n > 0) seen.append(buf, static_cast<std::size_t>(n));
    if (seen.size() > 4096) seen.erase(0, seen.size() - 2);  // only its end matters
  }
  return true;
}

// Whether `password` is the job's account's: `su -c true ACCOUNT` on a pty (su reads passwords
// from a terminal only), the password typed once su asks. Exit 0: accepted; 1: refused.
Verdict su_login(ssh_session s, const RotationJob& job, const Secret& password) {
  const std::string command = ssh::su_command(job);
  const auto deadline = Clock::now() + std::chrono::seconds(job.timeout_seconds);
  SshChannel ch(ssh_channel_new(s));
  if (!ch || ssh_channel_open_session(ch.get()) != SSH_OK ||
      ssh_channel_request_pty(ch.get()) != SSH_OK ||
      ssh_channel_request_exec(ch.get(), command.c_str()) != SSH_OK) {
    return {RotationVerdict::kUnreachable, "the host did not run " + command + " on a terminal"};
  }
  if (!await_prompt(ch.get(), deadline)) {
    return {RotationVerdict::kUnreachable, command + " asked for no password"};
  }
  std::string line;
  line.reserve(password.size() + 1);
  line.append(password.view()).append("\n");
  const int wrote = ssh_channel_write(ch.get(), line.data(), static_cast<uint32_t>(line.size()));
  wipe(line.data(), line.size());
  std::string output;
  const bool ended =
      wrote == static_cast<int>(line.size()) && read_output(ch.get(), output, deadline);
  const int status = ended ? ssh_channel_get_exit_status(ch.get()) : -1;
  if (status == 0) return {RotationVerdict::kAccepted, ""};
  if (status > 0) {
    return {RotationVerdict::kRefused,
            ssh::redact(command + " exited " + std::to_string(status) + ": " + output,
                        password.view())};
  }
  return {RotationVerdict::kUnreachable, command + " gave no exit status"};
}

// The core's answer to the host key: the job's secrets, or nullopt (an abort, a core gone).
std::optional<JobSecrets> await_secrets(const RotationJob& job) {
  auto reply = wire::receive_message(wire::kCoreFd);
  if (!reply || reply->body.value("type", "") != "secrets") return std::nullopt;
  auto login = wire::take_secret(reply->body, "secret");
  if (!login) return std::nullopt;
  JobSecrets secrets{std::move(*login), std::nullopt, std::nullopt};
  if (job.kind == RotationJobKind::kChangePassword) {
    auto next = wire::take_secret(reply->body, "new_password");
    if (!next) return std::nullopt;
    secrets.next = std::move(*next);
  } else if (!job.account.empty()) {
    auto su = wire::take_secret(reply->body, "password");
    if (!su) return std::nullopt;
    secrets.su = std::move(*su);
  }
  return secrets;
}

// Logs in and, for a change, runs chpasswd.
Verdict act(ssh_session s, const RotationJob& job, const JobSecrets& secrets) {
  if (job.kind == RotationJobKind::kChangePassword) {
    if (auto bad = ssh::check_chpasswd_password(secrets.next->view()); !bad) {
      return {RotationVerdict::kRejected, bad.error().message + " (nothing was sent)"};
    }
  }
  if (auto refused = log_in(s, job, secrets.login)) {
    // Through su, the login is the rotation account's: its refusal says nothing of the password.
    if (job.kind == RotationJobKind::kTryLogin && !job.account.empty()) {
      refused->verdict = RotationVerdict::kUnreachable;
    }
    return *refused;
  }
  if (job.kind == RotationJobKind::kTryLogin) {
    return job.account.empty() ? Verdict{RotationVerdict::kAccepted, ""}
                               : su_login(s, job, *secrets.su);
  }
  return change_password(s, job, secrets);
}

// The conversation of ssh/rotation_job.hpp from the key exchange on. The exit code.
int converse(ssh_session s, const RotationJob& job) {
  auto answer = [](const Verdict& v) {
    return wire::send_message(wire::kCoreFd, ssh::rotation_result_message(v.verdict, v.message))
               ? 0
               : 1;
  };
  if (auto r = ssh::handshake_target(s, wire::kClientFd); !r) {
    return answer({RotationVerdict::kUnreachable, r.error().message});
  }
  long timeout = job.timeout_seconds;  // handshake_target set its own limit for later steps
  (void)ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  auto key = ssh::presented_host_key(s);
  if (!key) return answer({RotationVerdict::kUnreachable, key.error().message});
  if (!wire::send_message(wire::kCoreFd, {{"type", "host_key"}, {"key", *key}})) return 1;
  const auto secrets = await_secrets(job);
  if (!secrets) {  // the core refused the key (and sends nothing), or went away
    ssh_disconnect(s);
    return 1;
  }
  const Verdict v = act(s, job, *secrets);
  ssh_disconnect(s);
  return answer(v);
}

}  // namespace

int run_rotation_job(const json& hello) {
  ::signal(SIGPIPE, SIG_IGN);
  const pid_t core = ::getppid();
  auto log = module_logger("ssh-worker");
  auto job = ssh::rotation_job_from_hello(hello);
  auto privileges = privsep::privileges_from_hello(hello);
  if (!job || !privileges) {
    log->error("{}", !job ? job.error().message : privileges.error().message);
    return 1;
  }
  auto session = session_for(*job);
  if (!session) {
    log->error("{}", session.error().message);
    return 1;
  }
  // As for a session: root is given up and the seccomp filter is on before the first byte from
  // the host (the host is as untrusted as an SSH client).
  if (auto r = privsep::apply_worker_privileges(*privileges); !r) {
    log->error("cannot give up root: {}", r.error().message);
    return 1;
  }
  // A rotation worker must not outlive the core that sent it: a change it sent after the core
  // died (and after the restarted core had asked the host which password it takes) would leave
  // the vault with a password the host refuses. Set after giving up root (a change of
  // credentials clears it), and the core checked for having died before it was set. The core's
  // thread that spawned this worker waits for it, so only the core's death fires it.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != core) {
    log->error("the core is gone; nothing was sent");
    return 1;
  }
  if (auto r = privsep::install_worker_sandbox(); !r) {
    log->error("cannot install the sandbox: {}", r.error().message);
    return 1;
  }
  return converse(session->get(), *job);
}

}  // namespace sekisho::worker
