// The core's TCP connection to a session's target (docs/ssh_gateway.md "Target connection"). The
// core connects and hands the socket to the worker (SCM_RIGHTS), so that the worker never needs
// connect() (its seccomp filter refuses it, privsep/worker_sandbox.hpp) and the core knows the
// local port of every target login: the audit names it, and a host's own log ("Accepted … from
// 127.0.0.1 port N") can be matched to the gateway session by it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/result.hpp"
#include "privsep/worker_protocol.hpp"

namespace sekisho::broker {

struct TargetConnection {
  wire::Fd fd;                   // connected, blocking, TCP_NODELAY, close-on-exec
  std::uint16_t local_port = 0;  // the source port the target sees
  std::string peer;              // "ADDRESS:PORT" actually connected to, for the audit
};

// Resolves `address` (an IP address or a host name; numeric service) and connects to each
// resolved address in turn until one accepts, all within `timeout` together (non-blocking
// connect + poll: a host that drops SYNs costs `timeout`, never the kernel's minutes). Errors
// (kUnavailable) carry only the reason ("Connection refused", "Connection timed out", the
// resolver's "Name or service not known"): the caller names the address.
// Blocking; any thread.
[[nodiscard]] Result<TargetConnection> connect_target_tcp(const std::string& address,
                                                          std::uint16_t port,
                                                          std::chrono::milliseconds timeout);

}  // namespace sekisho::broker
