// The password-rotation jobs of `sekisho-worker` (docs/ssh_gateway.md "Rotation over SSH"):
// "change_password" and "try_login", each on one TCP connection the core opened
// (wire::kClientFd), in the conversation of ssh/rotation_job.hpp. The worker gives up root and
// installs the seccomp filter before the first byte from the host, does the key exchange, and
// sends the host key it was shown; only when the core found it to be the pinned one does the
// core send the secrets of exactly this job (the login's, and for a change the new password),
// which live in wiped Secrets. Then the worker logs in (password, keyboard-interactive with the
// password when the host asks that way, or the private key) and, for a change, runs `chpasswd`
// or `sudo -n chpasswd` in an exec channel whose standard input gets the one line
// "ACCOUNT:NEWPASSWORD": no secret is ever part of a command, and the command is a fixed string.
// It answers one result and exits.
#pragma once

#include <nlohmann/json.hpp>

namespace sekisho::worker {

// Runs the job described by `hello` (already read from wire::kCoreFd by main). Returns the
// process exit code: 0 when a result was sent, 1 otherwise (a bad hello, privileges or sandbox
// that could not be applied, an abort from the core, a core that went away).
int run_rotation_job(const nlohmann::json& hello);

}  // namespace sekisho::worker
