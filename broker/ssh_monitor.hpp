// The core's answers to one SSH session worker: the whitelist of broker/worker_protocol.hpp
// applied to the store, the vault, the recording key, the signing key and the audit log.
#pragma once

#include <string>

#include "broker/ssh_gateway.hpp"

namespace sekisho::broker {

// Sends the worker its hello (with the gateway's host key), then answers its requests on `sock`
// until it closes the socket or asks for something its stage does not allow. A session the
// worker opened and did not end is finished here (as incomplete). Blocking; one thread per
// worker; does not close `sock`.
void answer_worker(const SshGatewayContext& ctx, const std::string& peer, int sock,
                   const std::string& host_key);

}  // namespace sekisho::broker
