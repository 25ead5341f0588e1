#include "broker/ssh/host_key_probe.hpp"

#include <sys/socket.h>

#include <algorithm>

#include "base/logging.hpp"
#include "broker/ssh/target_worker.hpp"
#include "privsep/worker_protocol.hpp"
#include "privsep/worker_spawn.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;

// A worker that has answered (or been killed) exits at once; this only bounds a confused one.
constexpr auto kReapGrace = std::chrono::seconds(2);

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
  const auto wait = std::max(timeout, std::chrono::seconds(1));
  auto started = start_target_worker(probe, address, port, wait);
  if (!started) return tl::make_unexpected(started.error());
  const std::string& where = started->where;
  const privsep::SpawnedWorker& worker = started->worker;
  module_logger("ssh")->info("host key probe of {}: worker {}", where, worker.pid);
  const json hello = {
      {"type", "hello"}, {"job", "probe_host_key"},         {"address", address},
      {"port", port},    {"timeout_seconds", wait.count()}, {"change_user", started->change_user}};
  auto answer = privsep::ask_worker(worker, hello, 2 * wait);
  ::shutdown(worker.core.get(), SHUT_RDWR);
  privsep::reap_worker(worker.pid, kReapGrace);
  if (!answer) {
    return fail(ErrorCode::kUnavailable,
                "cannot reach " + where + ": the probe worker ended without an answer");
  }
  return key_from_answer(*answer, where);
}

}  // namespace sekisho::broker
