#include "worker/ssh/host_key_probe.hpp"

#include <signal.h>

#include <optional>
#include <string>

#include "base/logging.hpp"
#include "base/result.hpp"
#include "privsep/worker_privileges.hpp"
#include "privsep/worker_protocol.hpp"
#include "privsep/worker_sandbox.hpp"
#include "ssh/handles.hpp"
#include "ssh/keys.hpp"

namespace sekisho::worker {

namespace {

using nlohmann::json;
using ssh::SshKey;
using ssh::SshSession;

constexpr std::size_t kMaxAddress = 253;
constexpr long long kMaxTimeoutSeconds = 600;

struct ProbeJob {
  std::string address;  // names the host in libssh's messages only: the socket is connected
  unsigned int port = 0;
  long timeout_seconds = 0;
  privsep::WorkerPrivileges privileges;
};

// An integer field within [low, high], or nullopt.
std::optional<long long> integer_field(const json& hello, const char* name, long long low,
                                       long long high) {
  const auto it = hello.find(name);
  if (it == hello.end() || !it->is_number_integer()) return std::nullopt;
  const auto v = it->get<long long>();
  if (v < low || v > high) return std::nullopt;
  return v;
}

Result<ProbeJob> job_from_hello(const json& hello) {
  const auto address = hello.find("address");
  const auto port = integer_field(hello, "port", 1, 65535);
  const auto timeout = integer_field(hello, "timeout_seconds", 1, kMaxTimeoutSeconds);
  if (address == hello.end() || !address->is_string() || address->get<std::string>().empty() ||
      address->get<std::string>().size() > kMaxAddress || !port || !timeout) {
    return fail(ErrorCode::kInvalidArgument, "bad probe in the hello");
  }
  auto privileges = privsep::privileges_from_hello(hello);
  if (!privileges) return tl::make_unexpected(privileges.error());
  return ProbeJob{address->get<std::string>(), static_cast<unsigned int>(*port),
                  static_cast<long>(*timeout), std::move(*privileges)};
}

// A client session on the core's socket, set up before root is given up (libssh and OpenSSL
// initialise here). The user name is never sent (the probe does not authenticate); setting it and
// the ssh dir keeps libssh from looking up the worker's own account, which the chroot lacks.
Result<SshSession> client_on_socket(const ProbeJob& job) {
  SshSession s(ssh_new());
  if (!s) return fail(ErrorCode::kInternal, "cannot create an SSH session");
  bool no = false;
  unsigned int port = job.port;
  long timeout = job.timeout_seconds;
  const char* none = "/dev/null";
  socket_t fd = wire::kClientFd;
  // PROCESS_CONFIG before anything that could trigger a config read.
  if (ssh_options_set(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_HOST, job.address.c_str()) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_PORT, &port) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_USER, "sekisho-probe") != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_SSH_DIR, "/nonexistent") != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_KNOWNHOSTS, none) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, none) != SSH_OK ||
      ssh_options_set(s.get(), SSH_OPTIONS_HOSTKEYS, kProbeHostKeyOrder) != SSH_OK ||
      // libssh owns the socket from here (ssh_free closes it); ssh_connect connects nothing.
      ssh_options_set(s.get(), SSH_OPTIONS_FD, &fd) != SSH_OK) {
    return fail(ErrorCode::kInternal, std::string("bad SSH options: ") + ssh_get_error(s.get()));
  }
  return s;
}

// The key exchange, then the server's host key; never authenticates. The answer to send.
json take_host_key(ssh_session s) {
  if (ssh_connect(s) != SSH_OK) return {{"type", "probe_failed"}, {"message", ssh_get_error(s)}};
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(s, &raw) != SSH_OK || raw == nullptr) {
    ssh_disconnect(s);
    return {{"type", "probe_failed"}, {"message", "no host key"}};
  }
  SshKey key(raw);
  ssh_disconnect(s);
  auto line = ssh::ssh_public_key_line(key.get());
  if (!line) return {{"type", "probe_failed"}, {"message", line.error().message}};
  const auto space = line->find(' ');
  return {{"type", "host_key"},
          {"key_type", line->substr(0, space)},
          {"base64", line->substr(space + 1)}};
}

}  // namespace

int run_host_key_probe(const json& hello) {
  ::signal(SIGPIPE, SIG_IGN);
  auto log = module_logger("ssh-worker");
  auto job = job_from_hello(hello);
  if (!job) {
    log->error("{}", job.error().message);
    return 1;
  }
  auto session = client_on_socket(*job);
  if (!session) {
    log->error("{}", session.error().message);
    return 1;
  }
  // As for a session: before the first byte from the host, root is given up and the seccomp
  // filter is on (the host is as untrusted as an SSH client).
  if (auto r = privsep::apply_worker_privileges(job->privileges); !r) {
    log->error("cannot give up root: {}", r.error().message);
    return 1;
  }
  if (auto r = privsep::install_worker_sandbox(); !r) {
    log->error("cannot install the sandbox: {}", r.error().message);
    return 1;
  }
  const json answer = take_host_key(session->get());
  if (auto r = wire::send_message(wire::kCoreFd, answer); !r) {
    log->error("cannot answer the core: {}", r.error().message);
    return 1;
  }
  return answer["type"] == "host_key" ? 0 : 1;
}

}  // namespace sekisho::worker
