// The SSH session worker: `sekisho-worker` (worker/ssh/main.cpp), one process per client
// connection, exec'd by the core (broker/ssh/gateway.hpp) with the client socket on wire::kClientFd
// and its end of the core's socketpair on wire::kCoreFd. It speaks SSH to the client (libssh
// server) and to the target (libssh client) and relays between them in one event loop holding
// exactly those two sessions, recording through recorder::Writer. It never opens the store and
// never sees the master key; it holds the gateway's SSH host private key (sent by the core at
// start: libssh 0.10 signs the key exchange in-process, where OpenSSH's unprivileged child asks
// its monitor), the target credential of its one granted session, and its recording's data key.
// It never connects anywhere: the core passes the target connection (and the recording file) as
// descriptors, and its seccomp filter (privsep/worker_sandbox.hpp) refuses socket and connect.
#pragma once

#include <nlohmann/json.hpp>

namespace sekisho::worker {

// Runs the session job on the inherited descriptors until the connection ends. `hello` is the
// core's first message, read by main ({type: "hello", job: "session", host_key, change_user}); its
// host key is taken out of it and wiped. Returns the process exit code (0 when the conversation
// ended as the protocol allows, 1 otherwise).
int run_session_worker(nlohmann::json& hello);

}  // namespace sekisho::worker
