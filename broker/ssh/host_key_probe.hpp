// The core's side of the host-key probe of `hosts add` (docs/ssh_gateway.md "Processes"): the
// core never speaks SSH to a managed host (DESIGN.md "Architecture"), so it connects the TCP
// socket itself, hands it to a `sekisho-worker` started for the job "probe_host_key"
// (worker/ssh/host_key_probe.hpp), and reads back one typed answer, which it checks as it checks
// a user's key (ssh::parse_ssh_public_key). Works whether or not the SSH listener is on, as root
// (the worker gives up root for [ssh] worker_user in DATA_DIR/empty) or not.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "base/result.hpp"
#include "ssh/keys.hpp"

namespace sekisho::broker {

// Where probe workers come from and what they give up; serve builds it from the configuration.
struct HostKeyProbe {
  std::string worker_user;          // [ssh] worker_user, resolved for each probe (when root)
  std::filesystem::path data_root;  // the data dir, whose empty/ is the worker's root
  std::string worker_exe;           // empty: sekisho-worker next to the running program
};

// Fetches the host key ADDRESS:PORT presents, through a probe worker: the TCP connect (all
// resolved addresses within `timeout`), then the worker's key exchange (each of its waits within
// `timeout`; the whole answer within twice that, then the worker is killed). Never authenticates.
// The key is checked and canonical as parse_ssh_public_key makes it. Errors: kInvalidArgument for
// an empty address or port 0; kUnavailable "cannot reach ADDR:PORT: REASON" (one line) when the
// host cannot be connected to, the handshake fails or the worker gives no key; the worker user's
// or the worker's own setup errors as they come. The worker is reaped before this returns.
// Blocking; any thread (one worker per call).
[[nodiscard]] Result<ssh::SshHostKey> probe_ssh_host_key(const HostKeyProbe& probe,
                                                         const std::string& address,
                                                         std::uint16_t port,
                                                         std::chrono::seconds timeout);

}  // namespace sekisho::broker
