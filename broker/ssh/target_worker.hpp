// A `sekisho-worker` started for one job on a managed host (the host-key probe, a password
// rotation): the core resolves the privileges the worker gives up, connects the TCP socket itself
// (broker/sessions/target_connect.hpp: the worker has no connect()) and spawns the worker on it,
// keeping no copy of the socket. The caller sends the hello and reaps the worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "base/result.hpp"
#include "broker/ssh/host_key_probe.hpp"
#include "privsep/worker_spawn.hpp"

namespace sekisho::broker {

struct TargetWorker {
  privsep::SpawnedWorker worker;  // the caller reaps worker.pid (privsep::reap_worker)
  nlohmann::json change_user;     // the hello's "change_user" field
  std::string where;              // "ADDRESS:PORT" ("[v6]:PORT"), for messages
};

// "ADDRESS:PORT", with brackets around an IPv6 address. Pure function.
std::string target_where(const std::string& address, std::uint16_t port);

// Starts a worker on a new connection to ADDRESS:PORT (connected within `timeout`). Errors:
// kUnavailable "cannot reach ADDRESS:PORT: REASON" when the connection fails; the worker user's
// errors as resolve_worker_privileges gives them; kIo/kInternal "cannot start a worker: …".
// Blocking; any thread.
[[nodiscard]] Result<TargetWorker> start_target_worker(const HostKeyProbe& workers,
                                                       const std::string& address,
                                                       std::uint16_t port,
                                                       std::chrono::milliseconds timeout);

}  // namespace sekisho::broker
