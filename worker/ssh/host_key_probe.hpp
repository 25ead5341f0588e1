// The host-key probe job of `sekisho-worker` (docs/ssh_gateway.md "Processes"): `hosts add` pins
// the key a target presents, and fetching it means speaking SSH to a managed host, which the core
// never does. The core connects the TCP socket itself (wire::kClientFd) and sends the hello
// {type: "hello", job: "probe_host_key", address, port, timeout_seconds, change_user}. The worker
// gives up root and installs the seccomp filter as a session worker does, runs the client side of
// the key exchange on that socket (no ~/.ssh/config, no known_hosts, no authentication), and sends
// one typed answer: {type: "host_key", key_type, base64}, or {type: "probe_failed", message} with
// libssh's one-line reason. It holds no secret and asks the core nothing.
#pragma once

#include <nlohmann/json.hpp>

namespace sekisho::worker {

// The host-key offer order: ssh-ed25519, then ecdsa-sha2-nistp256, then RSA with SHA-2 signatures.
inline constexpr const char* kProbeHostKeyOrder =
    "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256";

// Runs the probe described by `hello` (already read from wire::kCoreFd by main) and exits the
// conversation. Returns the process exit code: 0 when a key was sent, 1 otherwise (a bad hello,
// privileges or sandbox that could not be applied: then nothing is sent and nothing is probed).
int run_host_key_probe(const nlohmann::json& hello);

}  // namespace sekisho::worker
