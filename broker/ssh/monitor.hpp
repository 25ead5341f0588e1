// The core's answers to one SSH session worker: one table of requests (type, the stages where it
// is allowed, its handler; OpenSSH's mon_dispatch_proto20[]) applied to the store, the vault, the
// recording key, the signing key and the audit log.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/sessions/session_window.hpp"
#include "broker/ssh/gateway.hpp"
#include "privsep/worker_protocol.hpp"

namespace sekisho::broker {

// Sends the worker its hello (with the gateway's host key), then answers its requests on `sock`
// until it closes the socket or asks for something its stage does not allow. A session the
// worker opened and did not end is sealed and finished here (as incomplete, "worker died"), once
// `wait_for_exit` (optional: the gateway's reap of the worker) returns, or else once the
// recording's writer lock is free (stop_writer). Blocking; one thread per
// worker; does not close `sock`. `on_authenticated` (optional) runs on this thread once the
// worker's client has logged in (the gateway counts unauthenticated connections).
// `link` (optional): where the session's id, request and window end are published for the
// gateway's window check and kill, and whose send mutex guards every reply (the gateway pushes
// on the same socket from another thread).
void answer_worker(const SshGatewayContext& ctx, const std::string& peer, int sock,
                   const std::string& host_key, std::function<void()> on_authenticated = {},
                   WorkerLink* link = nullptr, std::function<void()> wait_for_exit = {});

// Whether the core answers a request of `type` at `stage`, read from the same table answer_worker
// dispatches with (there is no second whitelist). Pure; any thread.
bool monitor_allows(wire::Stage stage, std::string_view type);

// Every request type the table names, in table order. Pure; any thread.
std::vector<std::string_view> monitor_request_types();

}  // namespace sekisho::broker
